// AgentState: the watch agent's committed position, in one small file
// written atomically: the recorder cursor (id of the last sample that is
// inside a durable batch file) and the next batch sequence number.
#ifndef ACCEL_WATCH_AGENT_AGENT_STATE_H_
#define ACCEL_WATCH_AGENT_AGENT_STATE_H_

#include <cstdint>
#include <string>

#include "common/env.h"

namespace accel {

struct AgentState {
  uint64_t cursor = 0;
  uint64_t next_sequence = 0;

  // NotFound when the file does not exist (a first start).
  static Status Load(Env* env, const std::string& path, AgentState* out);
  Status Save(Env* env, const std::string& path) const;
};

// The first sequence number of a device with no state: microseconds since the
// epoch, so a watch whose state was wiped never reuses a number the relay has
// already seen (the relay rejects reused numbers with different content).
uint64_t InitialSequence(int64_t now_unix_ns);

}  // namespace accel

#endif  // ACCEL_WATCH_AGENT_AGENT_STATE_H_
