// LocalServer: one local AWS stand-in (moto, dynalite) or the fault proxy, run
// as a child process for the length of a test. The launchers live in
// tests/fixtures/ and print `READY http://127.0.0.1:PORT` once they listen on a
// kernel-chosen port; this class starts one, waits for that line with a
// deadline, and stops it by PID in its destructor (also when a test fails).
//
// The child gets its own process group, stdin a pipe (when the test binary dies,
// even by SIGKILL, the launcher sees EOF and exits), stdout a pipe read only for
// the READY line, and stderr a file whose tail goes into every error message.
#ifndef ACCEL_TESTS_SUPPORT_LOCAL_AWS_H_
#define ACCEL_TESTS_SUPPORT_LOCAL_AWS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace accel {
namespace testing {

// The source tree: $ACCEL_SOURCE_DIR if set, else the path compiled in.
std::string SourceDir();

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "accel-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct MotoOptions {
  // When set: create an IAM user allowed dynamodb:*, write its key as JSON
  // {"access_key_id","secret_access_key"} (mode 0600) here, then switch moto's
  // signature checking on.
  std::string auth_user_file;
  std::string create_table;  // created (id S, t N) before auth is switched on
};

struct FaultProxyOptions {
  uint64_t seed = 1;
  double rate = 0.3;
  std::string faults;  // comma separated subset of the proxy's faults; empty = all
  int slow_ms = 300;
  std::string log_file;  // one JSON line per request
  int fail_first = -1;   // >= 0: fault the first N attempts of every distinct body
  int check_skew_s = 0;  // > 0: reject X-Amz-Date further than this from now, like DynamoDB
  std::string tls_dir;   // serve https with a self-signed cert written to tls_dir/cert.pem
};

// The key localaws.py wrote for --auth-user-file.
struct MotoKey {
  std::string access_key_id, secret_access_key;
};
Result<MotoKey> ReadMotoKey(const std::string& path);

class LocalServer {
 public:
  // Starts `argv` (argv[0] looked up in PATH) and waits up to `timeout_ms` for
  // the READY line. The error names the command, the exit status if it died,
  // and the tail of its stderr.
  static Result<std::unique_ptr<LocalServer>> Start(const std::vector<std::string>& argv,
                                                    int timeout_ms = 60000);
  static Result<std::unique_ptr<LocalServer>> StartMoto(const MotoOptions& options = {});
  static Result<std::unique_ptr<LocalServer>> StartDynalite(const std::string& data_dir = "");
  static Result<std::unique_ptr<LocalServer>> StartFaultProxy(const std::string& upstream,
                                                              const FaultProxyOptions& options);

  ~LocalServer();  // Stop()
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  // "http://127.0.0.1:PORT"
  const std::string& endpoint() const { return endpoint_; }
  pid_t pid() const { return pid_; }
  // The last `max_bytes` of what the child wrote to stderr.
  std::string StderrTail(size_t max_bytes = 4000) const;
  // SIGTERM, up to 10 s for a clean exit, then SIGKILL; always reaps. Idempotent.
  Status Stop();

 private:
  LocalServer() = default;

  std::string command_;  // for messages
  std::string endpoint_;
  std::unique_ptr<TempDir> dir_;
  std::string stderr_path_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
};

}  // namespace testing
}  // namespace accel

#endif  // ACCEL_TESTS_SUPPORT_LOCAL_AWS_H_
