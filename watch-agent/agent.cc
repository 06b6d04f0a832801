#include "watch-agent/agent.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <map>

#include "common/batch_format.h"
#include "common/log.h"
#include "link/backoff.h"
#include "link/client.h"

namespace accel {

// Invariants this file keeps (shared/DESIGN.md 1, 2, 4, 5, 6):
//  I1. A sample leaves the cursor only after it is inside a durable batch
//      file: WriteBatch publishes the file (fsync + rename + fsync dir) before
//      it saves the state, and the file name carries the cursor after the
//      batch, so a crash between the two is rolled forward by Recover.
//  I2. A batch file leaves the outbox only after the relay acknowledged its
//      durable commit (kCommitted or kDuplicate), or moves to rejected/ when
//      it can never be delivered.
//  I4. Sequence numbers are strictly increasing and never reused: a batch is
//      sent only once state.json durably says next_sequence is above it
//      (committed_next_seq_ follows successful saves only), so no crash can
//      make the agent build a different batch under a number the relay may
//      already hold. Without state.json the numbers continue above every
//      batch file still on the watch (outbox and rejected/).
//  I5. A batch that is corrupt or larger than the relay accepts is
//      quarantined, never retried forever in front of the data behind it;
//      a transient read error is retried with backoff, never quarantined.
//  I6. When the outbox is full the dequeue thread stops fetching; the
//      recorder keeps the samples. Nothing is dropped to make room.

namespace {

std::string Ms(int64_t ns) { return std::to_string(ns / 1000000) + " ms"; }

// Definite corruption of a batch file on the watch's own disk: it does not
// decode, or it is not the batch its name says.
Status CheckBatchFile(std::string_view bytes, const std::string& device_id, uint64_t sequence) {
  BatchHeader h;
  ACCEL_RETURN_IF_ERROR(DecodeBatchHeader(bytes, &h));
  ACCEL_RETURN_IF_ERROR(VerifyBatchChecksum(bytes));
  if (h.sequence != sequence || h.device_id != device_id)
    return Status::Corruption("file holds batch " + std::to_string(h.sequence) + " of device '" +
                              h.device_id + "'");
  return Status::OK();
}

}  // namespace

Agent::Agent(AgentOptions options, SensorRecorder* recorder, Env* env, Clock* clock)
    : opt_(std::move(options)),
      recorder_(recorder),
      env_(env),
      clock_(clock),
      outbox_(env, JoinPath(opt_.state_dir, "outbox"), opt_.outbox),
      state_path_(JoinPath(opt_.state_dir, "state.json")),
      seed_base_(clock->MonotonicNanos()) {}

Agent::~Agent() { Stop(); }

uint64_t Agent::JitterSeed(uint64_t salt) const {
  return (opt_.jitter_seed ? opt_.jitter_seed : static_cast<uint64_t>(seed_base_)) * 2 + salt;
}

Status Agent::Recover() {
  ACCEL_RETURN_IF_ERROR(env_->CreateDirs(opt_.state_dir, 0700));
  std::vector<std::string> ignored;
  ACCEL_RETURN_IF_ERROR(RemoveTempFiles(env_, opt_.state_dir, &ignored));  // state.json.tmp
  ACCEL_RETURN_IF_ERROR(outbox_.Open());
  const std::vector<OutboxEntry> outbox = outbox_.List();
  const std::vector<OutboxEntry> rejected = outbox_.ListRejected();
  Status s = AgentState::Load(env_, state_path_, &state_);
  bool fresh = s.IsNotFound();
  bool save = fresh;
  if (fresh) {
    // A first start, or state.json was lost. Every batch file still on the
    // watch names its sequence and the cursor after it: continue above all
    // of them, or the leftovers would be sent again under new numbers.
    state_ = AgentState();
    uint64_t max_seq = 0;
    bool any = false;
    for (const auto* list : {&outbox, &rejected}) {
      for (const OutboxEntry& e : *list) {
        any = true;
        max_seq = std::max(max_seq, e.sequence);
        state_.cursor = std::max(state_.cursor, e.cursor_after);
      }
    }
    state_.next_sequence = std::max(InitialSequence(clock_->NowUnixNanos()), any ? max_seq + 1 : 0);
    if (any)
      LogWarn("no state.json but " + std::to_string(outbox.size() + rejected.size()) +
              " batch file(s) on the watch: cursor " + std::to_string(state_.cursor) +
              " and next batch " + std::to_string(state_.next_sequence) +
              " recovered from their names");
  } else if (!s.ok()) {
    return s;
  } else {
    // I1: a batch published after the last state save carries the cursor it
    // implies in its name; roll forward to it.
    uint64_t before = state_.next_sequence;
    for (const auto* list : {&outbox, &rejected}) {
      for (const OutboxEntry& e : *list) {
        if (e.sequence >= state_.next_sequence) {
          state_.next_sequence = e.sequence + 1;
          state_.cursor = std::max(state_.cursor, e.cursor_after);
          save = true;
        }
      }
    }
    if (save)
      LogInfo("recovered: rolled forward from batch " + std::to_string(before) + " to cursor " +
              std::to_string(state_.cursor) + ", next batch " +
              std::to_string(state_.next_sequence));
  }
  if (save) ACCEL_RETURN_IF_ERROR(state_.Save(env_, state_path_));
  fetch_cursor_ = state_.cursor;
  committed_next_seq_ = state_.next_sequence;
  LogInfo("start: device " + opt_.device_id + ", cursor " + std::to_string(state_.cursor) +
          ", next batch " + std::to_string(state_.next_sequence) + ", outbox " +
          std::to_string(outbox.size()) + " file(s) to resend, " + std::to_string(rejected.size()) +
          " quarantined in outbox/rejected/, source " + recorder_->Describe());
  return Status::OK();
}

Status Agent::SaveState() {
  Status s = state_.Save(env_, state_path_);
  if (!s.ok()) {
    state_dirty_ = true;
    std::lock_guard<std::mutex> l(mu_);
    stats_.state_save_failures++;
    return s;
  }
  state_dirty_ = false;
  committed_next_seq_ = state_.next_sequence;  // I4: only after the durable save
  cv_.notify_all();
  return Status::OK();
}

Status Agent::WriteBatch() {
  BatchHeader h;
  h.device_id = opt_.device_id;
  h.sequence = state_.next_sequence;
  h.nominal_period_ns = opt_.nominal_period_ns;
  h.resolution_g = opt_.resolution.step_g();
  std::string bytes;
  ACCEL_RETURN_IF_ERROR(encoder_.Encode(h, pending_.data(), pending_.size(), &bytes));
  ACCEL_RETURN_IF_ERROR(outbox_.Add(h.sequence, fetch_cursor_, bytes));  // I1: durable first
  // The file is published: its samples and its number are taken whatever
  // happens to the state save below (a crash is rolled forward by Recover).
  {
    std::lock_guard<std::mutex> l(mu_);
    state_.cursor = fetch_cursor_;
    state_.next_sequence = h.sequence + 1;
    stats_.samples_batched += pending_.size();
    stats_.batches_written++;
  }
  LogInfo("batch " + std::to_string(h.sequence) + " written: " + std::to_string(pending_.size()) +
          " samples, " + std::to_string(bytes.size()) + " bytes");
  pending_.clear();
  pending_empty_ = true;
  Status s = SaveState();
  if (!s.ok())
    LogWarn("state save failed; batch " + std::to_string(h.sequence) +
            " is held back until its number is durable: " + s.ToString());
  return Status::OK();
}

void Agent::WaitMs(int64_t ms) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait_for(l, std::chrono::milliseconds(ms), [&] { return stop_.load(); });
}

void Agent::DequeueLoop() {
  bool backpressure = false;
  link::Backoff backoff(opt_.backoff_initial_ms, opt_.backoff_max_ms, JitterSeed(0));
  bool failing = false;  // the last write or state save failed: back off
  FetchResult fr;
  while (true) {
    bool stopping = stop_.load();
    if (state_dirty_) {
      // Nothing new is fetched while the state is not durable: the recorder
      // keeps the samples, and the transfer thread holds the batch back.
      Status s = SaveState();
      if (!s.ok()) {
        if (stopping) break;  // Recover rolls forward from the outbox file
        int64_t wait = backoff.NextDelayMs();
        LogError("state save failed again, retry in " + std::to_string(wait) +
                 " ms: " + s.ToString());
        WaitMs(wait);
        continue;
      }
      LogInfo("state saved: batches below " + std::to_string(state_.next_sequence) +
              " may be sent");
      backoff.Reset();
    }
    int64_t now = clock_->MonotonicNanos();
    bool room = pending_.size() < opt_.batch_max_samples;
    if (!stopping && room && !source_done_) {
      if (outbox_.Full()) {
        if (!backpressure) {
          LogWarn("outbox full (" + std::to_string(outbox_.files()) + " files, " +
                  std::to_string(outbox_.bytes()) +
                  " bytes): dequeue paused, the recorder keeps the samples");
          backpressure = true;
        }
        Status p = recorder_->Poll();
        if (!p.ok()) LogWarn("recorder poll failed: " + p.ToString());
      } else {
        if (backpressure) {
          LogInfo("outbox has room again: dequeue resumed");
          backpressure = false;
        }
        Status s = recorder_->Fetch(fetch_cursor_, opt_.batch_max_samples - pending_.size(), &fr);
        if (!s.ok()) {
          LogWarn("recorder fetch failed: " + s.ToString());
        } else {
          if (fr.gap_samples > 0) {
            LogWarn("recorder gap: " + std::to_string(fr.gap_samples) +
                    " samples expired before they were fetched (" +
                    Ms(fr.gap_to_ns - fr.gap_from_ns) +
                    " of data from t=" + std::to_string(fr.gap_from_ns) + " ns)");
            std::lock_guard<std::mutex> l(mu_);
            stats_.gap_samples += fr.gap_samples;
          }
          if (fr.lost_samples > 0) {
            LogWarn("recorder lost " + std::to_string(fr.lost_samples) +
                    " samples it never kept (" + Ms(fr.lost_to_ns - fr.lost_from_ns) + " from t=" +
                    std::to_string(fr.lost_from_ns) + " ns; e.g. the sensor's buffer overflowed)");
            std::lock_guard<std::mutex> l(mu_);
            stats_.lost_samples += fr.lost_samples;
          }
          if (!fr.samples.empty() && pending_.empty()) batch_opened_mono_ns_ = now;
          for (const Sample& smp : fr.samples) {
            QSample q;
            Status qs = opt_.resolution.Quantise(smp, &q);
            if (!qs.ok()) {
              // Never clamp: the data cannot be stored at this resolution.
              std::lock_guard<std::mutex> l(mu_);
              fatal_ = qs.WithContext("sample " +
                                      std::to_string(fr.first_id + (&smp - fr.samples.data())) +
                                      " at t=" + std::to_string(smp.t_ns) +
                                      " ns cannot be stored at the configured resolution");
              stop_ = true;
              break;
            }
            pending_.push_back(q);
            pending_empty_ = false;
          }
          if (!fatal_.ok()) {
            pending_.clear();
            break;
          }
          if (!fr.samples.empty()) {
            fetch_cursor_ = fr.first_id + fr.samples.size() - 1;
            LogDebug("fetched samples " + std::to_string(fr.first_id) + ".." +
                     std::to_string(fetch_cursor_));
          }
          if (fr.end_of_data && !source_done_) {
            source_done_ = true;
            LogInfo("source: end of data after sample " + std::to_string(fetch_cursor_));
            cv_.notify_all();
          }
        }
      }
    }
    now = clock_->MonotonicNanos();
    bool close = !pending_.empty() &&
                 (pending_.size() >= opt_.batch_max_samples || stopping || source_done_ ||
                  now - batch_opened_mono_ns_ >= opt_.batch_max_age_ms * 1000000);
    if (close) {
      Status s = WriteBatch();
      if (!s.ok()) {
        // Disk full or I/O error: keep the samples in memory (the cursor has
        // not moved, so they are also still in the recorder) and try again.
        failing = true;
        LogError("batch write failed, will retry: " + s.ToString());
        if (stopping) break;
      } else {
        failing = false;
        backoff.Reset();
        if (stopping && !state_dirty_) break;
        continue;  // more may be readable right away
      }
    }
    if (stopping) break;
    int64_t wait_ms = failing ? backoff.NextDelayMs() : opt_.poll_interval_ms;
    if (!pending_.empty() && !failing) {
      int64_t due_ms = (batch_opened_mono_ns_ + opt_.batch_max_age_ms * 1000000 - now) / 1000000;
      wait_ms = std::max<int64_t>(1, std::min(wait_ms, due_ms));
    }
    if (source_done_ && pending_.empty()) wait_ms = 1000;
    WaitMs(wait_ms);
  }
  dequeue_done_ = true;
  cv_.notify_all();
}

void Agent::Quarantine(const OutboxEntry& e, const std::string& reason) {
  LogError("batch " + std::to_string(e.sequence) + " quarantined in outbox/rejected/: " + reason);
  Status s = outbox_.Reject(e.sequence, reason);
  if (!s.ok()) {
    LogError("outbox reject failed (the batch stays in the outbox): " + s.ToString());
    return;
  }
  std::lock_guard<std::mutex> l(mu_);
  stats_.batches_rejected++;
}

void Agent::TransferLoop() {
  std::unique_ptr<link::Client> client;
  link::Backoff backoff(opt_.backoff_initial_ms, opt_.backoff_max_ms, JitterSeed(1));
  bool announced_down = false;
  struct Retry {
    int attempts = 0;
    int64_t not_before_ns = 0;
  };
  std::map<uint64_t, Retry> read_retry;  // outbox files whose last read failed
  while (!stop_) {
    const uint64_t committed = committed_next_seq_.load();
    const int64_t now = clock_->MonotonicNanos();
    int64_t next_retry_ns = INT64_MAX;
    std::vector<OutboxEntry> todo;
    for (const OutboxEntry& e : outbox_.List()) {
      if (e.sequence >= committed) continue;  // I4
      auto it = read_retry.find(e.sequence);
      if (it != read_retry.end() && it->second.not_before_ns > now) {
        next_retry_ns = std::min(next_retry_ns, it->second.not_before_ns);
        continue;
      }
      todo.push_back(e);
    }
    if (todo.empty()) {
      if (client) {
        // Heartbeat while idle, so a dead relay is noticed before the next batch.
        Status p = client->PingIfIdle();
        if (!p.ok()) {
          LogWarn("relay link lost while idle: " + p.ToString());
          client.reset();
        }
      }
      int64_t wait_ms = opt_.poll_interval_ms * 5;
      if (next_retry_ns != INT64_MAX)
        wait_ms = std::max<int64_t>(1, std::min(wait_ms, (next_retry_ns - now) / 1000000 + 1));
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, std::chrono::milliseconds(wait_ms),
                   [&] { return stop_.load() || committed_next_seq_.load() != committed; });
      continue;
    }
    if (!client) {
      link::ClientOptions co;
      co.endpoint = opt_.relay_endpoint;
      co.device_id = opt_.device_id;
      co.psk = opt_.psk;
      co.io_timeout_ms = opt_.io_timeout_ms;
      co.answer_timeout_ms = opt_.answer_timeout_ms;
      co.heartbeat_ms = opt_.heartbeat_ms;
      co.cancelled = [this] { return stop_.load(); };
      auto c = link::Client::Connect(co);
      if (!c.ok()) {
        int64_t wait = backoff.NextDelayMs();
        if (!announced_down || backoff.attempt() % 10 == 0)
          LogWarn("relay unreachable (" + c.status().ToString() + "), " +
                  std::to_string(outbox_.files()) + " batch(es) waiting; retry in " +
                  std::to_string(wait) + " ms");
        announced_down = true;
        WaitMs(wait);
        continue;
      }
      client = std::move(c.value());
      if (announced_down) LogInfo("relay reachable again at " + opt_.relay_endpoint);
      announced_down = false;
    }
    bool failed = false;
    for (const OutboxEntry& e : todo) {
      if (stop_) break;
      std::string bytes;
      Status rs = env_->ReadFile(e.path, &bytes);
      if (rs.IsNotFound()) {
        LogError("outbox file " + e.path + " vanished; batch " + std::to_string(e.sequence) +
                 " cannot be sent");
        outbox_.Remove(e.sequence);
        continue;
      }
      if (!rs.ok() && !rs.IsResourceExhausted()) {
        // EIO, EMFILE, ...: maybe transient. Keep the file, retry it later,
        // and go on with the batches behind it meanwhile.
        Retry& r = read_retry[e.sequence];
        int64_t wait = backoff.DrawMs(++r.attempts);
        r.not_before_ns = clock_->MonotonicNanos() + wait * 1000000;
        LogWarn("cannot read outbox file of batch " + std::to_string(e.sequence) + " (attempt " +
                std::to_string(r.attempts) + ", retry in " + std::to_string(wait) +
                " ms): " + rs.ToString());
        continue;
      }
      read_retry.erase(e.sequence);
      Status bad = rs.ok() ? CheckBatchFile(bytes, opt_.device_id, e.sequence) : rs;
      if (!bad.ok()) {
        Quarantine(e, "unreadable or corrupt on the watch: " + bad.ToString());
        continue;
      }
      auto r = client->SendBatch(e.sequence, bytes);
      if (!r.ok() && r.status().IsResourceExhausted()) {
        Quarantine(e, "larger than the relay accepts: " + r.status().ToString());
        if (client->broken()) {
          client.reset();  // the relay closed after its too-large error
          break;
        }
        continue;
      }
      if (!r.ok()) {
        LogWarn("transfer of batch " + std::to_string(e.sequence) +
                " interrupted: " + r.status().ToString());
        failed = true;
        break;
      }
      link::Outcome o = r->outcome;
      if (o == link::Outcome::kCommitted || o == link::Outcome::kDuplicate) {
        Status s = outbox_.Remove(e.sequence);  // I2: only after the relay's durable commit
        if (!s.ok()) LogError("outbox remove failed: " + s.ToString());
        std::lock_guard<std::mutex> l(mu_);
        stats_.batches_acked++;
        stats_.bytes_sent += bytes.size();
      } else if (o == link::Outcome::kRejected) {
        Quarantine(e, "rejected by the relay: " + r->reason);
      } else {
        LogWarn("relay refused batch " + std::to_string(e.sequence) + ": " + r->reason +
                "; will retry");
        failed = true;
        break;
      }
      LogDebug("batch " + std::to_string(e.sequence) + " " + link::OutcomeName(o));
      cv_.notify_all();
    }
    if (failed) {
      client.reset();
      WaitMs(backoff.NextDelayMs());
    } else {
      backoff.Reset();
    }
  }
}

Status Agent::Run() {
  std::thread dequeue([this] { DequeueLoop(); });
  std::thread transfer([this] { TransferLoop(); });
  if (opt_.exit_when_drained) {
    std::unique_lock<std::mutex> l(mu_);
    while (!cv_.wait_for(l, std::chrono::milliseconds(opt_.poll_interval_ms), [&] {
      return stop_.load() || (source_done_.load() && pending_empty_.load() && outbox_.files() == 0);
    })) {
    }
    l.unlock();
    Stop();
  }
  dequeue.join();
  transfer.join();
  std::lock_guard<std::mutex> l(mu_);
  LogInfo("stopped: " + std::to_string(stats_.batches_written) + " batches written, " +
          std::to_string(stats_.batches_acked) + " acknowledged, " +
          std::to_string(outbox_.files()) + " left in the outbox, " +
          std::to_string(outbox_.rejected_files()) + " in outbox/rejected/; cursor " +
          std::to_string(state_.cursor) + (state_dirty_ ? " (state save pending)" : ""));
  return fatal_;
}

void Agent::Stop() {
  stop_ = true;
  cv_.notify_all();
}

AgentStats Agent::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

}  // namespace accel
