#include "watch-agent/outbox.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "common/log.h"

namespace accel {

Outbox::Outbox(Env* env, std::string dir, OutboxLimits limits)
    : env_(env), dir_(std::move(dir)), limits_(limits) {}

std::string Outbox::FileName(uint64_t sequence, uint64_t cursor_after) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%020" PRIu64 "-%020" PRIu64 ".batch", sequence, cursor_after);
  return buf;
}

bool Outbox::ParseFileName(const std::string& name, uint64_t* sequence, uint64_t* cursor_after) {
  if (name.size() != 20 + 1 + 20 + 6 || name.compare(41, 6, ".batch") != 0 || name[20] != '-')
    return false;
  uint64_t v[2] = {0, 0};
  for (int part = 0; part < 2; ++part) {
    for (int i = 0; i < 20; ++i) {
      char c = name[static_cast<size_t>(part * 21 + i)];
      if (c < '0' || c > '9') return false;
      uint64_t d = static_cast<uint64_t>(c - '0');
      if (v[part] > (UINT64_MAX - d) / 10) return false;
      v[part] = v[part] * 10 + d;
    }
  }
  *sequence = v[0];
  *cursor_after = v[1];
  return true;
}

Status RemoveTempFiles(Env* env, const std::string& dir, std::vector<std::string>* rest) {
  std::vector<std::string> names;
  ACCEL_RETURN_IF_ERROR(env->GetChildren(dir, &names));
  bool removed = false;
  rest->clear();
  for (const std::string& n : names) {
    if (n.size() > kTempSuffix.size() &&
        n.compare(n.size() - kTempSuffix.size(), kTempSuffix.size(), kTempSuffix) == 0) {
      // A write that crashed before its rename. In the outbox its samples are
      // still behind the committed cursor, so they will be fetched again.
      ACCEL_RETURN_IF_ERROR(env->RemoveFile(JoinPath(dir, n)));
      LogInfo("removed half-written " + JoinPath(dir, n));
      removed = true;
      continue;
    }
    rest->push_back(n);
  }
  if (removed) ACCEL_RETURN_IF_ERROR(env->SyncDir(dir));
  return Status::OK();
}

Status Outbox::Open() {
  const std::string rejected_dir = JoinPath(dir_, "rejected");
  ACCEL_RETURN_IF_ERROR(env_->CreateDirs(rejected_dir));
  std::vector<std::string> names, rejected_names;
  ACCEL_RETURN_IF_ERROR(RemoveTempFiles(env_, dir_, &names));
  ACCEL_RETURN_IF_ERROR(RemoveTempFiles(env_, rejected_dir, &rejected_names));
  std::lock_guard<std::mutex> l(mu_);
  entries_.clear();
  rejected_.clear();
  bytes_ = 0;
  for (const std::string& n : names) {
    std::string path = JoinPath(dir_, n);
    OutboxEntry e;
    if (!ParseFileName(n, &e.sequence, &e.cursor_after)) {
      if (n != "rejected") LogWarn("outbox: ignoring unexpected file " + path);
      continue;
    }
    ACCEL_RETURN_IF_ERROR(env_->GetFileSize(path, &e.bytes));
    e.path = path;
    bytes_ += e.bytes;
    entries_.push_back(e);
  }
  for (const std::string& n : rejected_names) {
    OutboxEntry e;
    if (!ParseFileName(n, &e.sequence, &e.cursor_after)) continue;  // ".reason" files
    e.path = JoinPath(rejected_dir, n);
    rejected_.push_back(e);
  }
  auto by_seq = [](const OutboxEntry& a, const OutboxEntry& b) { return a.sequence < b.sequence; };
  std::sort(entries_.begin(), entries_.end(), by_seq);
  std::sort(rejected_.begin(), rejected_.end(), by_seq);
  return Status::OK();
}

Status Outbox::Add(uint64_t sequence, uint64_t cursor_after, const std::string& bytes) {
  OutboxEntry e;
  e.sequence = sequence;
  e.cursor_after = cursor_after;
  e.bytes = bytes.size();
  e.path = JoinPath(dir_, FileName(sequence, cursor_after));
  ACCEL_RETURN_IF_ERROR(WriteFileAtomically(env_, e.path, bytes));
  std::lock_guard<std::mutex> l(mu_);
  bytes_ += e.bytes;
  auto pos = std::lower_bound(entries_.begin(), entries_.end(), sequence,
                              [](const OutboxEntry& a, uint64_t s) { return a.sequence < s; });
  entries_.insert(pos, e);
  return Status::OK();
}

std::vector<OutboxEntry> Outbox::List() const {
  std::lock_guard<std::mutex> l(mu_);
  return entries_;
}

Status Outbox::Remove(uint64_t sequence) {
  OutboxEntry e;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const OutboxEntry& x) { return x.sequence == sequence; });
    if (it == entries_.end())
      return Status::NotFound("outbox: no batch " + std::to_string(sequence));
    e = *it;
  }
  Status s = env_->RemoveFile(e.path);
  if (!s.ok() && !s.IsNotFound()) return s;
  ACCEL_RETURN_IF_ERROR(env_->SyncDir(dir_));
  std::lock_guard<std::mutex> l(mu_);
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const OutboxEntry& x) { return x.sequence == sequence; });
  if (it != entries_.end()) {
    bytes_ -= it->bytes;
    entries_.erase(it);
  }
  return Status::OK();
}

Status Outbox::Reject(uint64_t sequence, const std::string& reason) {
  OutboxEntry e;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const OutboxEntry& x) { return x.sequence == sequence; });
    if (it == entries_.end())
      return Status::NotFound("outbox: no batch " + std::to_string(sequence));
    e = *it;
  }
  std::string dest = JoinPath(JoinPath(dir_, "rejected"), FileName(e.sequence, e.cursor_after));
  ACCEL_RETURN_IF_ERROR(WriteFileAtomically(env_, dest + ".reason", reason + "\n"));
  ACCEL_RETURN_IF_ERROR(env_->RenameFile(e.path, dest));
  ACCEL_RETURN_IF_ERROR(env_->SyncDir(JoinPath(dir_, "rejected")));
  ACCEL_RETURN_IF_ERROR(env_->SyncDir(dir_));
  std::lock_guard<std::mutex> l(mu_);
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const OutboxEntry& x) { return x.sequence == sequence; });
  if (it != entries_.end()) {
    bytes_ -= it->bytes;
    entries_.erase(it);
  }
  e.path = dest;
  rejected_.insert(std::lower_bound(rejected_.begin(), rejected_.end(), e,
                                    [](const OutboxEntry& a, const OutboxEntry& b) {
                                      return a.sequence < b.sequence;
                                    }),
                   e);
  return Status::OK();
}

std::vector<OutboxEntry> Outbox::ListRejected() const {
  std::lock_guard<std::mutex> l(mu_);
  return rejected_;
}
size_t Outbox::rejected_files() const {
  std::lock_guard<std::mutex> l(mu_);
  return rejected_.size();
}

bool Outbox::Full() const {
  std::lock_guard<std::mutex> l(mu_);
  return bytes_ >= limits_.max_bytes || entries_.size() >= limits_.max_files;
}
uint64_t Outbox::bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  return bytes_;
}
size_t Outbox::files() const {
  std::lock_guard<std::mutex> l(mu_);
  return entries_.size();
}

}  // namespace accel
