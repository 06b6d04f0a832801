#include "tests/support/local_aws.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/config.h"

namespace accel {
namespace testing {

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Join(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

std::string DescribeExit(int wstatus) {
  if (WIFEXITED(wstatus)) return "exited with status " + std::to_string(WEXITSTATUS(wstatus));
  if (WIFSIGNALED(wstatus)) return "killed by signal " + std::to_string(WTERMSIG(wstatus));
  return "stopped";
}

// Waits up to `timeout_ms` for `pid` to exit and reaps it. True when reaped.
// A pidfd makes the wait a poll(2) on the process itself; kernels without
// pidfd_open fall back to a bounded WNOHANG check every 20 ms.
bool WaitExit(pid_t pid, int timeout_ms, int* wstatus) {
  const int64_t deadline = NowMs() + timeout_ms;
#ifdef SYS_pidfd_open
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    for (;;) {
      int64_t left = deadline - NowMs();
      if (left < 0) left = 0;
      pollfd p{pidfd, POLLIN, 0};
      int r = poll(&p, 1, static_cast<int>(left));
      if (r > 0) break;
      if (r == 0) {
        close(pidfd);
        return false;
      }
      if (errno != EINTR) break;
    }
    close(pidfd);
    return waitpid(pid, wstatus, 0) == pid;
  }
#endif
  for (;;) {
    pid_t r = waitpid(pid, wstatus, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return true;  // already reaped elsewhere
    if (NowMs() >= deadline) return false;
    poll(nullptr, 0, 20);
  }
}

}  // namespace

std::string SourceDir() {
  const char* env = std::getenv("ACCEL_SOURCE_DIR");
  if (env != nullptr && *env != '\0') return env;
#ifdef ACCEL_SOURCE_DIR
  return ACCEL_SOURCE_DIR;
#else
  return ".";
#endif
}

TempDir::TempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    throw std::runtime_error("mkdtemp(" + tmpl + "): " + std::strerror(errno));
  }
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Result<MotoKey> ReadMotoKey(const std::string& path) {
  nlohmann::json j;
  ACCEL_RETURN_IF_ERROR(LoadJsonFile(path, &j));
  MotoKey k;
  ConfigReader r(j, path);
  ACCEL_RETURN_IF_ERROR(r.String("access_key_id", &k.access_key_id, /*required=*/true));
  ACCEL_RETURN_IF_ERROR(r.String("secret_access_key", &k.secret_access_key, /*required=*/true));
  ACCEL_RETURN_IF_ERROR(r.Finish());
  return k;
}

Result<std::unique_ptr<LocalServer>> LocalServer::Start(const std::vector<std::string>& argv,
                                                        int timeout_ms) {
  if (argv.empty()) return Status::InvalidArgument("LocalServer: empty command");
  std::unique_ptr<LocalServer> s(new LocalServer());
  s->command_ = Join(argv);
  s->dir_ = std::make_unique<TempDir>("accel-localserver");
  s->stderr_path_ = s->dir_->File("stderr.log");

  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return Status::FromErrno("pipe2", errno);
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    int e = errno;
    close(in_pipe[0]);
    close(in_pipe[1]);
    return Status::FromErrno("pipe2", e);
  }
  int err_fd = open(s->stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (err_fd < 0) return Status::FromErrno(s->stderr_path_, errno);

  // Everything the child needs is prepared before fork: after it only
  // async-signal-safe calls (the test binary may have threads).
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(in_pipe[0]);
    close(in_pipe[1]);
    close(out_pipe[0]);
    close(out_pipe[1]);
    close(err_fd);
    return Status::FromErrno("fork", e);
  }
  if (pid == 0) {
    setpgid(0, 0);
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_fd, 2);
    // The test runner may have ignored SIGPIPE/SIGTERM; the child wants defaults.
    signal(SIGPIPE, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    execvp(cargv[0], cargv.data());
    const char msg[] = "LocalServer: exec failed\n";
    ssize_t ignored = write(2, msg, sizeof(msg) - 1);
    (void)ignored;
    _exit(127);
  }
  setpgid(pid, pid);  // also from the parent: no race with the child's own call
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_fd);
  s->pid_ = pid;
  s->stdin_fd_ = in_pipe[1];
  s->stdout_fd_ = out_pipe[0];

  // Read stdout up to the first newline, within the deadline.
  std::string line;
  const int64_t deadline = NowMs() + timeout_ms;
  bool eof = false;
  while (line.find('\n') == std::string::npos) {
    int64_t left = deadline - NowMs();
    if (left <= 0) break;
    pollfd p{s->stdout_fd_, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    char buf[256];
    ssize_t n = read(s->stdout_fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof = true;
      break;
    }
    line.append(buf, static_cast<size_t>(n));
    if (line.size() > 4096) break;
  }
  size_t nl = line.find('\n');
  if (nl == std::string::npos || line.compare(0, 6, "READY ") != 0) {
    std::string why;
    if (nl != std::string::npos || line.size() > 4096) {
      why = "printed '" + line.substr(0, nl) + "' instead of 'READY <url>'";
    } else if (eof) {
      int wstatus = 0;
      why = WaitExit(pid, 5000, &wstatus) ? DescribeExit(wstatus) + " before READY"
                                          : "closed stdout before READY";
    } else {
      why = "no READY line within " + std::to_string(timeout_ms) + " ms";
    }
    std::string tail = s->StderrTail();
    s->Stop();
    return Status::Unavailable("LocalServer: `" + s->command_ + "` " + why + "; stderr tail:\n" +
                               tail);
  }
  s->endpoint_ = line.substr(6, nl - 6);
  return s;
}

Result<std::unique_ptr<LocalServer>> LocalServer::StartMoto(const MotoOptions& options) {
  std::vector<std::string> argv = {"python3", SourceDir() + "/tests/fixtures/localaws.py", "moto"};
  if (!options.auth_user_file.empty()) {
    argv.push_back("--auth-user-file");
    argv.push_back(options.auth_user_file);
  }
  if (!options.create_table.empty()) {
    argv.push_back("--create-table");
    argv.push_back(options.create_table);
  }
  return Start(argv);
}

Result<std::unique_ptr<LocalServer>> LocalServer::StartDynalite(const std::string& data_dir) {
  std::vector<std::string> argv = {"node", SourceDir() + "/tests/fixtures/dynalite_server.js"};
  if (!data_dir.empty()) {
    argv.push_back("--path");
    argv.push_back(data_dir);
  }
  return Start(argv);
}

Result<std::unique_ptr<LocalServer>> LocalServer::StartFaultProxy(const std::string& upstream,
                                                                  const FaultProxyOptions& o) {
  std::vector<std::string> argv = {"python3",    SourceDir() + "/tests/fixtures/fault_proxy.py",
                                   "--upstream", upstream,
                                   "--seed",     std::to_string(o.seed),
                                   "--slow-ms",  std::to_string(o.slow_ms)};
  std::ostringstream rate;
  rate << o.rate;
  argv.push_back("--rate");
  argv.push_back(rate.str());
  if (!o.faults.empty()) {
    argv.push_back("--faults");
    argv.push_back(o.faults);
  }
  if (!o.log_file.empty()) {
    argv.push_back("--log");
    argv.push_back(o.log_file);
  }
  if (o.fail_first >= 0) {
    argv.push_back("--fail-first");
    argv.push_back(std::to_string(o.fail_first));
  }
  if (!o.tls_dir.empty()) {
    argv.push_back("--tls-dir");
    argv.push_back(o.tls_dir);
  }
  if (o.check_skew_s > 0) {
    argv.push_back("--check-skew-s");
    argv.push_back(std::to_string(o.check_skew_s));
  }
  return Start(argv);
}

LocalServer::~LocalServer() { Stop(); }

std::string LocalServer::StderrTail(size_t max_bytes) const {
  std::ifstream f(stderr_path_, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string all = ss.str();
  return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

Status LocalServer::Stop() {
  Status st;
  if (pid_ > 0) {
    int wstatus = 0;
    kill(pid_, SIGTERM);
    if (!WaitExit(pid_, 10000, &wstatus)) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &wstatus, 0);
      st = Status::Aborted("LocalServer: `" + command_ + "` ignored SIGTERM; killed");
    }
    pid_ = -1;
  }
  if (stdin_fd_ >= 0) close(stdin_fd_);
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdin_fd_ = stdout_fd_ = -1;
  return st;
}

}  // namespace testing
}  // namespace accel
