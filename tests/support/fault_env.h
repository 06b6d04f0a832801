// FaultEnv: an Env for tests that records every call that changes the disk
// and can make chosen ones fail: the next write/fsync/rename/remove on a path,
// or everything after the Nth such call (a "crash": from then on nothing more
// reaches the disk, as if the process had died at that instruction).
//
//   FaultEnv env;                                          // wraps Env::Default()
//   env.FailNext(FaultEnv::Op::kRename, "state.json");      // one failed rename
//   env.CrashAfter(7);                                      // the 8th change and all later fail
//   env.CallStrings()  ->  {"create a.tmp", "append a.tmp", "sync a.tmp", ...}
#ifndef ACCEL_TESTS_SUPPORT_FAULT_ENV_H_
#define ACCEL_TESTS_SUPPORT_FAULT_ENV_H_

#include <climits>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"

namespace accel {
namespace testing {

class FaultEnv : public EnvWrapper {
 public:
  // Calls that change what is on disk, plus kClose and kRead, which are
  // recorded and can be failed but do not count as changes. After a crash
  // reads fail too (a dead process reads nothing); closes still succeed.
  enum class Op { kCreate, kAppend, kSync, kClose, kRename, kRemove, kSyncDir, kCreateDirs, kRead };
  static const char* OpName(Op op) {
    switch (op) {
      case Op::kCreate:
        return "create";
      case Op::kAppend:
        return "append";
      case Op::kSync:
        return "sync";
      case Op::kClose:
        return "close";
      case Op::kRename:
        return "rename";
      case Op::kRemove:
        return "remove";
      case Op::kSyncDir:
        return "syncdir";
      case Op::kCreateDirs:
        return "mkdirs";
      case Op::kRead:
        return "read";
    }
    return "?";
  }
  struct Call {
    Op op;
    std::string path;
    std::string to;  // kRename only
    bool failed = false;
  };

  explicit FaultEnv(Env* target = Env::Default()) : EnvWrapper(target) {}

  // The next `count` calls of `op` whose path (or rename target) contains
  // `substr`, after `skip` matching calls that succeed, fail with `error`.
  void FailNext(Op op, std::string substr = "", int skip = 0, int count = 1,
                Status error = Status::IOError("injected fault")) {
    std::lock_guard<std::mutex> l(mu_);
    faults_.push_back(Fault{op, std::move(substr), skip, count, std::move(error)});
  }
  void FailAlways(Op op, std::string substr = "",
                  Status error = Status::IOError("injected fault")) {
    FailNext(op, std::move(substr), 0, INT_MAX, std::move(error));
  }
  void ClearFaults() {
    std::lock_guard<std::mutex> l(mu_);
    faults_.clear();
    crash_after_ = -1;
    crashed_ = false;
  }
  // After `n` more disk-changing calls succeed, every later one fails.
  void CrashAfter(int64_t n) {
    std::lock_guard<std::mutex> l(mu_);
    crash_after_ = changes_ + n;
  }
  bool crashed() const {
    std::lock_guard<std::mutex> l(mu_);
    return crashed_;
  }
  // Disk-changing calls attempted so far (failed ones included; close and read excluded).
  int64_t changes() const {
    std::lock_guard<std::mutex> l(mu_);
    return changes_;
  }
  std::vector<Call> calls() const {
    std::lock_guard<std::mutex> l(mu_);
    return calls_;
  }
  void ClearCalls() {
    std::lock_guard<std::mutex> l(mu_);
    calls_.clear();
  }
  // "op path" (or "rename from -> to"), with " FAILED" appended to failed calls;
  // paths are made relative to `strip` when they start with it.
  std::vector<std::string> CallStrings(const std::string& strip = "") const {
    std::vector<std::string> out;
    auto rel = [&](const std::string& p) {
      return !strip.empty() && p.compare(0, strip.size(), strip) == 0 ? p.substr(strip.size()) : p;
    };
    for (const Call& c : calls()) {
      std::string s = std::string(OpName(c.op)) + " " + rel(c.path);
      if (c.op == Op::kRename) s += " -> " + rel(c.to);
      if (c.failed) s += " FAILED";
      out.push_back(s);
    }
    return out;
  }

  Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* out,
                         uint32_t mode = 0644) override {
    ACCEL_RETURN_IF_ERROR(Check(Op::kCreate, path));
    std::unique_ptr<WritableFile> f;
    ACCEL_RETURN_IF_ERROR(target()->NewWritableFile(path, &f, mode));
    out->reset(new File(this, path, std::move(f)));
    return Status::OK();
  }
  Status ReadFile(const std::string& path, std::string* out,
                  uint64_t max_bytes = (64u << 20)) override {
    ACCEL_RETURN_IF_ERROR(Check(Op::kRead, path));
    return target()->ReadFile(path, out, max_bytes);
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    ACCEL_RETURN_IF_ERROR(Check(Op::kRename, from, to));
    return target()->RenameFile(from, to);
  }
  Status RemoveFile(const std::string& path) override {
    ACCEL_RETURN_IF_ERROR(Check(Op::kRemove, path));
    return target()->RemoveFile(path);
  }
  Status SyncDir(const std::string& dir) override {
    ACCEL_RETURN_IF_ERROR(Check(Op::kSyncDir, dir));
    return target()->SyncDir(dir);
  }
  Status CreateDirs(const std::string& dir, uint32_t mode = 0755) override {
    ACCEL_RETURN_IF_ERROR(Check(Op::kCreateDirs, dir));
    return target()->CreateDirs(dir, mode);
  }

 private:
  struct Fault {
    Op op;
    std::string substr;
    int skip;
    int count;
    Status error;
  };

  class File : public WritableFile {
   public:
    File(FaultEnv* env, std::string path, std::unique_ptr<WritableFile> f)
        : env_(env), path_(std::move(path)), f_(std::move(f)) {}
    Status Append(std::string_view data) override {
      ACCEL_RETURN_IF_ERROR(env_->Check(Op::kAppend, path_));
      return f_->Append(data);
    }
    Status Sync() override {
      ACCEL_RETURN_IF_ERROR(env_->Check(Op::kSync, path_));
      return f_->Sync();
    }
    Status Close() override {
      Status s = env_->Check(Op::kClose, path_);
      Status c = f_->Close();  // the descriptor is released either way
      return s.ok() ? c : s;
    }

   private:
    FaultEnv* env_;
    std::string path_;
    std::unique_ptr<WritableFile> f_;
  };

  // Records the call and decides whether it fails.
  Status Check(Op op, const std::string& path, const std::string& to = "") {
    std::lock_guard<std::mutex> l(mu_);
    Call call{op, path, to, false};
    Status result;
    if (op != Op::kClose && op != Op::kRead) {
      if (crash_after_ >= 0 && changes_ >= crash_after_) crashed_ = true;
      ++changes_;
    }
    if (crashed_ && op != Op::kClose)
      result = Status::IOError("injected crash: the process is dead to the disk");
    for (Fault& f : faults_) {
      if (!result.ok() || f.op != op || f.count <= 0) continue;
      bool match = f.substr.empty() || path.find(f.substr) != std::string::npos ||
                   (!to.empty() && to.find(f.substr) != std::string::npos);
      if (!match) continue;
      if (f.skip > 0) {
        --f.skip;
        continue;
      }
      if (f.count != INT_MAX) --f.count;
      result = f.error.WithContext(std::string(OpName(op)) + " " + path);
    }
    call.failed = !result.ok();
    calls_.push_back(std::move(call));
    return result;
  }

  mutable std::mutex mu_;
  std::vector<Fault> faults_;
  std::vector<Call> calls_;
  int64_t changes_ = 0;
  int64_t crash_after_ = -1;
  bool crashed_ = false;
};

}  // namespace testing
}  // namespace accel

#endif  // ACCEL_TESTS_SUPPORT_FAULT_ENV_H_
