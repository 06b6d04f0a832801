// Agent: the watch's background recorder loop.
//
//   recorder --Fetch--> in-memory batch --encode--> outbox (durable) --link--> relay
//                 cursor commits here ^                    deleted on ack ^
//
// Two threads: the dequeue thread fetches samples after the cursor, closes a
// batch when it is full or old enough, publishes it to the outbox and only
// then commits the cursor; the transfer thread sends outbox files whose
// sequence numbers are durably committed, in sequence order, and deletes each
// only after the relay acknowledged its durable commit. Killing the process at any instruction
// loses nothing and duplicates nothing (see Recover and the invariants in the .cc).
#ifndef ACCEL_WATCH_AGENT_AGENT_H_
#define ACCEL_WATCH_AGENT_AGENT_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/batch_format.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/sample.h"
#include "watch-agent/agent_state.h"
#include "watch-agent/outbox.h"
#include "watch-agent/sensor_recorder.h"

namespace accel {

struct AgentOptions {
  std::string device_id;
  std::string state_dir;       // holds state.json and outbox/
  std::string relay_endpoint;  // "tcp:127.0.0.1:7000" or "unix:/run/relay.sock"
  std::string psk;             // the pairing secret (raw bytes)
  Resolution resolution;
  int64_t nominal_period_ns = 20000000;
  size_t batch_max_samples = 1500;
  int64_t batch_max_age_ms = 1000;
  OutboxLimits outbox;
  int64_t poll_interval_ms = 100;
  int64_t io_timeout_ms = 10000;
  // The relay must answer each transferred batch within this, KEEPALIVEs or not.
  int64_t answer_timeout_ms = 60000;
  int64_t heartbeat_ms = 5000;
  int64_t backoff_initial_ms = 200;
  int64_t backoff_max_ms = 60000;
  uint64_t jitter_seed = 0;  // 0 = from the clock
  // Exit once the source reported end of data and the outbox is empty (replay).
  bool exit_when_drained = false;
};

struct AgentStats {
  uint64_t samples_batched = 0;
  uint64_t batches_written = 0;
  uint64_t batches_acked = 0;
  uint64_t batches_rejected = 0;  // quarantined into outbox/rejected/ by this process
  uint64_t gap_samples = 0;       // expired in the recorder before they were fetched
  uint64_t lost_samples = 0;      // never kept by the source (e.g. kernel ring overflow)
  uint64_t bytes_sent = 0;
  uint64_t state_save_failures = 0;
};

class Agent {
 public:
  Agent(AgentOptions options, SensorRecorder* recorder, Env* env, Clock* clock);
  ~Agent();

  // Makes the on-disk state consistent after any crash and loads it. Must be
  // called once before Run.
  Status Recover();
  // Runs until Stop() (then finishes the current batch) or, with
  // exit_when_drained, until everything was acknowledged. Returns an error
  // only for failures it cannot wait out (bad data from the sensor).
  Status Run();
  // Thread-safe; may be called from a signal-watching thread.
  void Stop();

  AgentStats stats() const;
  const AgentState& committed_state() const { return state_; }

 private:
  void DequeueLoop();
  void TransferLoop();
  // Encodes `pending_` as batch next_sequence and publishes it into the
  // outbox (an error leaves pending_ untouched), then saves the state.
  Status WriteBatch();
  // Saves state_ durably; only then may batches below its next_sequence be
  // sent (committed_next_seq_). On failure state_dirty_ stays set.
  Status SaveState();
  // Moves a batch that can never be delivered to outbox/rejected/.
  void Quarantine(const OutboxEntry& e, const std::string& reason);
  // Waits up to `ms` or until Stop().
  void WaitMs(int64_t ms);
  uint64_t JitterSeed(uint64_t salt) const;

  AgentOptions opt_;
  SensorRecorder* recorder_;
  Env* env_;
  Clock* clock_;
  Outbox outbox_;
  std::string state_path_;

  // Owned by the dequeue thread, published under mu_.
  AgentState state_;
  std::vector<QSample> pending_;
  // One encoder for the agent's life: it keeps each axis's lattice and its
  // scratch buffers between batches (about half the CPU of a cold encode).
  BatchEncoder encoder_;
  uint64_t fetch_cursor_ = 0;
  int64_t batch_opened_mono_ns_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> source_done_{false};
  std::atomic<bool> dequeue_done_{false};
  std::atomic<bool> pending_empty_{true};  // mirrors pending_.empty() for other threads
  // Batches with a sequence below this may be sent: their numbers are
  // durably accounted for in state.json (never ahead of the saved state).
  std::atomic<uint64_t> committed_next_seq_{0};
  bool state_dirty_ = false;  // dequeue thread: state_ is ahead of state.json
  Status fatal_;
  AgentStats stats_;
  int64_t seed_base_ = 0;
};

}  // namespace accel

#endif  // ACCEL_WATCH_AGENT_AGENT_H_
