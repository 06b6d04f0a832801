#include "common/env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace accel {

namespace {

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("write " + path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::OK();
  }
  Status Sync() override {
    if (::fsync(fd_) != 0) return Status::FromErrno("fsync " + path_, errno);
    return Status::OK();
  }
  Status Close() override {
    int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) return Status::FromErrno("close " + path_, errno);
    return Status::OK();
  }

 private:
  std::string path_;
  int fd_;
};

class PosixEnv : public Env {
 public:
  Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* out,
                         uint32_t mode) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return Status::FromErrno("open " + path, errno);
    out->reset(new PosixWritableFile(path, fd));
    return Status::OK();
  }

  Status ReadFile(const std::string& path, std::string* out, uint64_t max_bytes) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return Status::NotFound(path);
      return Status::FromErrno("open " + path, errno);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return Status::FromErrno("stat " + path, err);
    }
    if (static_cast<uint64_t>(st.st_size) > max_bytes) {
      ::close(fd);
      return Status::ResourceExhausted(path + ": " + std::to_string(st.st_size) +
                                       " bytes exceeds the limit of " + std::to_string(max_bytes));
    }
    out->clear();
    // /proc and sysfs report a size of 0 (or a page): read to EOF, capped.
    bool pseudo = st.st_size == 0;
    // One byte past the cap tells "too large" from "exactly the cap".
    const uint64_t cap = max_bytes + 1;
    out->resize(pseudo ? std::min<uint64_t>(4096, cap) : static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < out->size() || (pseudo && got < cap)) {
      if (got == out->size()) out->resize(std::min<uint64_t>(cap, out->size() * 2));
      ssize_t n = ::read(fd, &(*out)[got], out->size() - got);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return Status::FromErrno("read " + path, err);
      }
      if (n == 0) break;  // shrank while reading
      got += static_cast<size_t>(n);
    }
    out->resize(got);
    ::close(fd);
    if (got > max_bytes)
      return Status::ResourceExhausted(path + ": more than the limit of " +
                                       std::to_string(max_bytes) + " bytes");
    return Status::OK();
  }

  Status GetFileSize(const std::string& path, uint64_t* size) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return Status::NotFound(path);
      return Status::FromErrno("stat " + path, errno);
    }
    *size = static_cast<uint64_t>(st.st_size);
    return Status::OK();
  }

  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0)
      return Status::FromErrno("rename " + from + " -> " + to, errno);
    return Status::OK();
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT) return Status::NotFound(path);
      return Status::FromErrno("unlink " + path, errno);
    }
    return Status::OK();
  }

  Status GetChildren(const std::string& dir, std::vector<std::string>* names) override {
    names->clear();
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      if (errno == ENOENT) return Status::NotFound(dir);
      return Status::FromErrno("opendir " + dir, errno);
    }
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names->push_back(std::move(n));
    }
    ::closedir(d);
    return Status::OK();
  }

  Status CreateDirs(const std::string& dir, uint32_t mode) override {
    if (dir.empty()) return Status::InvalidArgument("empty directory name");
    std::string partial;
    size_t pos = 0;
    while (pos != std::string::npos) {
      pos = dir.find('/', pos + 1);
      partial = dir.substr(0, pos);
      if (partial.empty()) continue;
      if (::mkdir(partial.c_str(), mode) == 0) {
        // A new directory entry is durable only once its parent is synced;
        // without this a crash can lose a directory whose files were fsynced.
        ACCEL_RETURN_IF_ERROR(SyncDir(DirName(partial)));
      } else if (errno != EEXIST) {
        return Status::FromErrno("mkdir " + partial, errno);
      }
    }
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return Status::IOError(dir + ": exists and is not a directory");
    return Status::OK();
  }

  Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno("open dir " + dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return Status::FromErrno("fsync dir " + dir, err);
    return Status::OK();
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv();
  return env;
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status WriteFileAtomically(Env* env, const std::string& path, std::string_view data,
                           uint32_t mode) {
  const std::string tmp = path + std::string(kTempSuffix);
  std::unique_ptr<WritableFile> f;
  ACCEL_RETURN_IF_ERROR(env->NewWritableFile(tmp, &f, mode));
  Status s = f->Append(data);
  if (s.ok()) s = f->Sync();
  Status c = f->Close();
  if (s.ok()) s = c;
  if (!s.ok()) {
    env->RemoveFile(tmp);  // best effort: a leftover .tmp is swept at startup anyway
    return s;
  }
  Status r = env->RenameFile(tmp, path);
  if (!r.ok()) {
    env->RemoveFile(tmp);  // best effort, as above; `path` still holds its old content
    return r;
  }
  return env->SyncDir(DirName(path));
}

}  // namespace accel
