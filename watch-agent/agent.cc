#include "watch-agent/agent.h"

#include <algorithm>
#include <chrono>

#include "common/batch_format.h"
#include "common/log.h"
#include "link/client.h"

namespace accel {

// Invariants this file keeps (shared/DESIGN.md 1, 2, 4, 6):
//  I1. A sample leaves the cursor only after it is inside a durable batch
//      file: WriteBatch publishes the file (fsync + rename + fsync dir) before
//      it saves the state, and the file name carries the cursor after the
//      batch, so a crash between the two is rolled forward by Recover.
//  I2. A batch file leaves the outbox only after the relay acknowledged its
//      durable commit (kCommitted or kDuplicate), or moves to rejected/.
//  I4. Sequence numbers are strictly increasing and never reused: a batch is
//      sent only once its number is below the committed next_sequence, so a
//      crash can never make the agent build a different batch under a number
//      the relay may already hold.
//  I6. When the outbox is full the dequeue thread stops fetching; the
//      recorder keeps the samples. Nothing is dropped to make room.


Agent::Agent(AgentOptions options, SensorRecorder* recorder, Env* env, Clock* clock)
    : opt_(std::move(options)),
      recorder_(recorder),
      env_(env),
      clock_(clock),
      outbox_(env, JoinPath(opt_.state_dir, "outbox"), opt_.outbox),
      state_path_(JoinPath(opt_.state_dir, "state.json")),
      rng_(opt_.jitter_seed ? opt_.jitter_seed : static_cast<uint64_t>(clock->MonotonicNanos())) {}

Agent::~Agent() { Stop(); }

Status Agent::Recover() {
  ACCEL_RETURN_IF_ERROR(env_->CreateDirs(opt_.state_dir, 0700));
  ACCEL_RETURN_IF_ERROR(outbox_.Open());
  Status s = AgentState::Load(env_, state_path_, &state_);
  bool fresh = s.IsNotFound();
  if (fresh) {
    state_ = AgentState();
    state_.next_sequence = InitialSequence(clock_->NowUnixNanos());
  } else if (!s.ok()) {
    return s;
  }
  // I1: a batch published after the last state save carries the cursor it
  // implies in its name; roll forward to it.
  bool rolled = false;
  for (const OutboxEntry& e : outbox_.List()) {
    if (e.sequence >= state_.next_sequence) {
      state_.next_sequence = e.sequence + 1;
      state_.cursor = std::max(state_.cursor, e.cursor_after);
      rolled = true;
    }
  }
  if (fresh || rolled) ACCEL_RETURN_IF_ERROR(state_.Save(env_, state_path_));
  if (rolled) LogInfo("recovered: rolled the cursor forward to " + std::to_string(state_.cursor));
  fetch_cursor_ = state_.cursor;
  committed_next_seq_ = state_.next_sequence;
  LogInfo("start: device " + opt_.device_id + ", cursor " + std::to_string(state_.cursor) +
          ", next batch " + std::to_string(state_.next_sequence) + ", outbox " +
          std::to_string(outbox_.files()) + " file(s) to resend, source " + recorder_->Describe());
  return Status::OK();
}

Status Agent::WriteBatch() {
  BatchHeader h;
  h.device_id = opt_.device_id;
  h.sequence = state_.next_sequence;
  h.nominal_period_ns = opt_.nominal_period_ns;
  h.resolution_g = opt_.resolution.step_g();
  std::string bytes;
  ACCEL_RETURN_IF_ERROR(EncodeBatch(h, pending_.data(), pending_.size(), &bytes));
  ACCEL_RETURN_IF_ERROR(outbox_.Add(h.sequence, fetch_cursor_, bytes));  // I1: durable first
  AgentState next = state_;
  next.cursor = fetch_cursor_;
  next.next_sequence = h.sequence + 1;
  // If this save fails the published file still carries the cursor (I1), so
  // the in-memory state may move on; Recover repairs the file after a crash.
  Status s = next.Save(env_, state_path_);
  if (!s.ok()) LogWarn("state save failed (outbox file carries the cursor): " + s.ToString());
  {
    std::lock_guard<std::mutex> l(mu_);
    state_ = next;
    stats_.samples_batched += pending_.size();
    stats_.batches_written++;
  }
  LogInfo("batch " + std::to_string(h.sequence) + " written: " + std::to_string(pending_.size()) +
          " samples, " + std::to_string(bytes.size()) + " bytes");
  pending_.clear();
  pending_empty_ = true;
  committed_next_seq_ = next.next_sequence;
  cv_.notify_all();
  return Status::OK();
}

void Agent::DequeueLoop() {
  bool backpressure = false;
  int write_failures = 0;
  FetchResult fr;
  while (true) {
    bool stopping = stop_.load();
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
                    std::to_string((fr.gap_to_ns - fr.gap_from_ns) / 1000000) + " ms of data from t=" +
                    std::to_string(fr.gap_from_ns) + " ns)");
            std::lock_guard<std::mutex> l(mu_);
            stats_.gap_samples += fr.gap_samples;
          }
          if (!fr.samples.empty() && pending_.empty()) batch_opened_mono_ns_ = now;
          for (const Sample& smp : fr.samples) {
            QSample q;
            Status qs = opt_.resolution.Quantise(smp, &q);
            if (!qs.ok()) {
              // Never clamp: the data cannot be stored at this resolution.
              std::lock_guard<std::mutex> l(mu_);
              fatal_ = qs.WithContext("sample " + std::to_string(fr.first_id + (&smp - fr.samples.data())) +
                                      " at t=" + std::to_string(smp.t_ns) +
                                      " ns cannot be stored at the configured resolution");
              stop_ = true;
              break;
            }
            pending_.push_back(q);
            pending_empty_ = false;
          }
          if (fatal_.ok()) fetch_cursor_ = fr.first_id + fr.samples.size() - 1;
          if (!fatal_.ok()) {
            pending_.clear();
            break;
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
        ++write_failures;
        LogError("batch write failed, will retry: " + s.ToString());
        if (stopping) break;
      } else {
        write_failures = 0;
        continue;  // more may be readable right away
      }
    }
    if (stopping) break;
    std::unique_lock<std::mutex> l(mu_);
    int64_t wait_ms = write_failures ? NextBackoffMs(write_failures) : opt_.poll_interval_ms;
    if (!pending_.empty() && !write_failures) {
      int64_t due_ms = (batch_opened_mono_ns_ + opt_.batch_max_age_ms * 1000000 - now) / 1000000;
      wait_ms = std::max<int64_t>(1, std::min(wait_ms, due_ms));
    }
    if (source_done_ && pending_.empty()) wait_ms = 1000;
    cv_.wait_for(l, std::chrono::milliseconds(wait_ms), [&] { return stop_.load(); });
  }
  dequeue_done_ = true;
  cv_.notify_all();
}

int64_t Agent::NextBackoffMs(int attempt) {
  std::lock_guard<std::mutex> l(rng_mu_);
  // Exponential backoff with full jitter: uniform in [0, min(max, base*2^n)].
  int64_t cap = opt_.backoff_initial_ms;
  for (int i = 1; i < attempt && cap < opt_.backoff_max_ms; ++i) cap *= 2;
  cap = std::min(cap, opt_.backoff_max_ms);
  std::uniform_int_distribution<int64_t> d(0, cap);
  return d(rng_);
}

void Agent::TransferLoop() {
  std::unique_ptr<link::Client> client;
  int failures = 0;
  bool announced_down = false;
  auto has_committed = [&] {
    std::vector<OutboxEntry> l = outbox_.List();
    return !l.empty() && l.front().sequence < committed_next_seq_.load();
  };
  while (!stop_) {
    std::vector<OutboxEntry> todo;
    for (const OutboxEntry& e : outbox_.List())
      if (e.sequence < committed_next_seq_.load()) todo.push_back(e);  // I4
    if (todo.empty()) {
      if (client) {
        // Heartbeat while idle, so a dead relay is noticed before the next batch.
        Status p = client->PingIfIdle();
        if (!p.ok()) {
          LogWarn("relay link lost while idle: " + p.ToString());
          client.reset();
        }
      }
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, std::chrono::milliseconds(opt_.poll_interval_ms * 5),
                   [&] { return stop_.load() || has_committed(); });
      continue;
    }
    if (!client) {
      link::ClientOptions co;
      co.endpoint = opt_.relay_endpoint;
      co.device_id = opt_.device_id;
      co.psk = opt_.psk;
      co.io_timeout_ms = opt_.io_timeout_ms;
      co.heartbeat_ms = opt_.heartbeat_ms;
      auto c = link::Client::Connect(co);
      if (!c.ok()) {
        ++failures;
        int64_t wait = NextBackoffMs(failures);
        if (!announced_down || failures % 10 == 0)
          LogWarn("relay unreachable (" + c.status().ToString() + "), " +
                  std::to_string(outbox_.files()) + " batch(es) waiting; retry in " +
                  std::to_string(wait) + " ms");
        announced_down = true;
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait_for(l, std::chrono::milliseconds(wait), [&] { return stop_.load(); });
        continue;
      }
      client = std::move(c.value());
      if (announced_down) LogInfo("relay reachable again at " + opt_.relay_endpoint);
      announced_down = false;
      failures = 0;
    }
    bool failed = false;
    for (const OutboxEntry& e : todo) {
      if (stop_) break;
      std::string bytes;
      Status rs = env_->ReadFile(e.path, &bytes);
      if (!rs.ok()) {
        LogError("outbox file unreadable, kept for inspection: " + rs.ToString());
        outbox_.Reject(e.sequence, "unreadable on the watch: " + rs.ToString());
        continue;
      }
      auto r = client->SendBatch(e.sequence, bytes);
      if (!r.ok()) {
        LogWarn("transfer of batch " + std::to_string(e.sequence) + " interrupted: " +
                r.status().ToString());
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
        LogError("relay rejected batch " + std::to_string(e.sequence) + ": " + r->reason +
                 " (kept in outbox/rejected/)");
        Status s = outbox_.Reject(e.sequence, r->reason);
        if (!s.ok()) LogError("outbox reject failed: " + s.ToString());
        std::lock_guard<std::mutex> l(mu_);
        stats_.batches_rejected++;
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
      ++failures;
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, std::chrono::milliseconds(NextBackoffMs(failures)),
                   [&] { return stop_.load(); });
    } else {
      failures = 0;
    }
  }
}

Status Agent::Run() {
  std::thread dequeue([this] { DequeueLoop(); });
  std::thread transfer([this] {
    TransferLoop();
  });
  if (opt_.exit_when_drained) {
    std::unique_lock<std::mutex> l(mu_);
    while (!cv_.wait_for(l, std::chrono::milliseconds(opt_.poll_interval_ms), [&] {
      return stop_.load() ||
             (source_done_.load() && pending_empty_.load() && outbox_.files() == 0);
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
          std::to_string(outbox_.files()) + " left in the outbox");
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
