// Subprocess: a real child process for tests (daemons killed with SIGKILL,
// command-line tools run for their exit code and output).
#ifndef ACCEL_TESTS_SUPPORT_SUBPROCESS_H_
#define ACCEL_TESTS_SUPPORT_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace accel {
namespace testing {

class Subprocess {
 public:
  Subprocess() = default;
  ~Subprocess();  // SIGKILLs and reaps a child that is still running
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Starts argv[0] (a path) with stdout on a pipe readable through ReadLine
  // and stderr appended to `stderr_path`; with the special value "pipe"
  // stderr goes to the same pipe (the caller must keep reading it).
  Status Start(const std::vector<std::string>& argv, const std::string& stderr_path = "");
  // The next line of the child's stdout, waiting at most `timeout_ms`.
  Status ReadLine(std::string* line, int64_t timeout_ms);
  // Sends a signal (SIGKILL, SIGTERM).
  void Signal(int sig);
  // Waits for the exit; returns the exit code, or 128+signal.
  int Wait();
  // Waits at most timeout_ms; false when still running.
  bool WaitFor(int64_t timeout_ms, int* code);
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffered_;
};

// Runs a command to completion, capturing stdout and stderr.
struct RunResult {
  int exit_code = -1;
  std::string out, err;
};
RunResult Run(const std::vector<std::string>& argv, int64_t timeout_ms = 60000);

}  // namespace testing
}  // namespace accel

#endif  // ACCEL_TESTS_SUPPORT_SUBPROCESS_H_
