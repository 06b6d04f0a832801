// Helpers shared by the sigv4 tests: where the reference material lives, file reading, and the
// parser for the suite's raw HTTP requests.
#ifndef ACCEL_TESTS_SIGV4_TEST_UTIL_H_
#define ACCEL_TESTS_SIGV4_TEST_UTIL_H_

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sigv4/signer.h"

namespace accel::sigv4::testing {

// The reference material (official test suites, the botocore oracle, the pitfalls list) is
// vendored in tests/sigv4/reference/ (provenance and licences in its README.md) so that a clone
// tests on its own. Empty when missing: callers must FAIL, never skip.
inline std::string SharedSigv4Dir() {
  const std::filesystem::path p =
      std::filesystem::path(ACCEL_SOURCE_DIR) / "tests" / "sigv4" / "reference";
  std::error_code ec;
  if (!std::filesystem::is_directory(p / "testsuite", ec)) return "";
  return std::filesystem::weakly_canonical(p, ec).string();
}
inline std::string MissingSharedMessage() {
  return std::string("reference material not found: expected ") + ACCEL_SOURCE_DIR +
         "/tests/sigv4/reference/testsuite";
}

inline bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

// Expected-output files end without a newline in most cases; strip only one final "\n".
inline std::string StripFinalNewline(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

struct RawRequest {
  std::string method, target;
  std::vector<Header> headers;
  std::string body;
};

// "METHOD target HTTP/1.1\nName:value\n continuation\n\nbody". The target may contain spaces
// (get-space). obs-fold continuation lines are joined to the previous value with one space, which
// is what an HTTP/1.1 recipient does before the value reaches a signer.
inline bool ParseRawRequest(const std::string& raw, RawRequest* r) {
  const size_t split = raw.find("\n\n");
  const std::string head = raw.substr(0, split);
  r->body = split == std::string::npos ? "" : raw.substr(split + 2);
  std::vector<std::string> lines;
  std::stringstream ss(head);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  if (lines.empty()) return false;
  const size_t sp = lines[0].find(' ');
  const size_t last = lines[0].rfind(' ');
  if (sp == std::string::npos || last <= sp) return false;
  r->method = lines[0].substr(0, sp);
  r->target = lines[0].substr(sp + 1, last - sp - 1);
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.empty()) continue;
    if ((l[0] == ' ' || l[0] == '\t') && !r->headers.empty()) {
      const size_t b = l.find_first_not_of(" \t");
      r->headers.back().value += " " + (b == std::string::npos ? "" : l.substr(b));
      continue;
    }
    const size_t colon = l.find(':');
    if (colon == std::string::npos) return false;
    r->headers.push_back({l.substr(0, colon), l.substr(colon + 1)});
  }
  return true;
}

}  // namespace accel::sigv4::testing

#endif  // ACCEL_TESTS_SIGV4_TEST_UTIL_H_
