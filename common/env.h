// Env: the filesystem as the pipeline sees it. Everything that must survive a
// crash goes through here, so tests can substitute an Env that fails the Nth
// write, runs out of space, or "loses power" (drops unsynced data).
#ifndef ACCEL_COMMON_ENV_H_
#define ACCEL_COMMON_ENV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace accel {

// A file being written. Nothing is durable until Sync() returned OK.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  virtual Status Sync() = 0;  // fsync: data and metadata reach stable storage
  virtual Status Close() = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide POSIX implementation. Never deleted.
  static Env* Default();

  // Creates or truncates `path`; `mode` applies to a new file (0600 for secrets).
  virtual Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* out,
                                 uint32_t mode = 0644) = 0;
  // Reads the whole file; refuses files larger than `max_bytes` so an
  // untrusted size can never drive an allocation.
  virtual Status ReadFile(const std::string& path, std::string* out,
                          uint64_t max_bytes = (64u << 20)) = 0;
  virtual Status GetFileSize(const std::string& path, uint64_t* size) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  // Atomic replace (rename(2)); durable only after SyncDir of the parent.
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  // Names (not paths) of the entries in `dir`, without "." and "..".
  virtual Status GetChildren(const std::string& dir, std::vector<std::string>* names) = 0;
  // mkdir -p with `mode` for directories it creates; each new directory is made
  // durable (its parent is fsynced) before the call returns.
  virtual Status CreateDirs(const std::string& dir, uint32_t mode = 0755) = 0;
  // fsync the directory so renames and unlinks inside it are durable.
  virtual Status SyncDir(const std::string& dir) = 0;
};

// An Env that forwards every call to another Env (leveldb's EnvWrapper): a
// subclass overrides only what it wants to observe or break, e.g. a test Env
// that records calls or fails the Nth fsync.
class EnvWrapper : public Env {
 public:
  // `target` must outlive the wrapper.
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }

  Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* out,
                         uint32_t mode = 0644) override {
    return target_->NewWritableFile(path, out, mode);
  }
  Status ReadFile(const std::string& path, std::string* out,
                  uint64_t max_bytes = (64u << 20)) override {
    return target_->ReadFile(path, out, max_bytes);
  }
  Status GetFileSize(const std::string& path, uint64_t* size) override {
    return target_->GetFileSize(path, size);
  }
  bool FileExists(const std::string& path) override { return target_->FileExists(path); }
  Status RenameFile(const std::string& from, const std::string& to) override {
    return target_->RenameFile(from, to);
  }
  Status RemoveFile(const std::string& path) override { return target_->RemoveFile(path); }
  Status GetChildren(const std::string& dir, std::vector<std::string>* names) override {
    return target_->GetChildren(dir, names);
  }
  Status CreateDirs(const std::string& dir, uint32_t mode = 0755) override {
    return target_->CreateDirs(dir, mode);
  }
  Status SyncDir(const std::string& dir) override { return target_->SyncDir(dir); }

 private:
  Env* target_;
};

// Writes `data` to `path` so that after a crash at any instruction the file
// holds either its old content or all of `data`, never a mix:
// write "<path>.tmp" -> fsync it -> rename over `path` -> fsync the directory.
// Readers must ignore (and startup code delete) leftover "*.tmp" files.
// On an error before the rename `path` keeps its old content and the temp file
// is removed (best effort); when only the final directory fsync fails the new
// content is in place but may not survive a crash, so callers treat it as a failure.
Status WriteFileAtomically(Env* env, const std::string& path, std::string_view data,
                           uint32_t mode = 0644);

// The suffix WriteFileAtomically uses for its temporary file.
inline constexpr std::string_view kTempSuffix = ".tmp";

// "dir/name" without doubling the slash.
std::string JoinPath(const std::string& dir, const std::string& name);
// The directory part of `path` ("." when there is none).
std::string DirName(const std::string& path);

}  // namespace accel

#endif  // ACCEL_COMMON_ENV_H_
