# Every third-party dependency, found once, with a message that names the Debian package when missing.
function(accel_require found what package)
  if(NOT ${found})
    message(FATAL_ERROR "${what} not found. On Debian/Ubuntu: sudo apt-get install ${package} "
                        "(or run scripts/setup.sh, which installs everything this project needs).")
  endif()
endfunction()

find_package(Threads REQUIRED)

find_package(OpenSSL 1.1.1 QUIET)
accel_require(OPENSSL_FOUND "OpenSSL (>= 1.1.1, for TLS 1.3 PSK and SHA-256/HMAC)" libssl-dev)

find_package(CURL QUIET)
accel_require(CURL_FOUND "libcurl" libcurl4-openssl-dev)

find_package(SQLite3 QUIET)
accel_require(SQLite3_FOUND "SQLite3" libsqlite3-dev)

find_package(nlohmann_json 3.2 QUIET)
accel_require(nlohmann_json_FOUND "nlohmann/json" nlohmann-json3-dev)

if(ACCEL_BUILD_TESTS)
  find_package(GTest QUIET)
  accel_require(GTest_FOUND "GoogleTest" libgtest-dev)
endif()
if(ACCEL_BUILD_BENCH)
  find_package(benchmark QUIET)
  accel_require(benchmark_FOUND "Google Benchmark" libbenchmark-dev)
endif()
