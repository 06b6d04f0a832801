#include "common/log.h"

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>

namespace accel {

namespace {
struct LogState {
  std::mutex mu;
  std::string component = "accel";
  LogLevel min_level = LogLevel::kInfo;
  std::function<void(const std::string&)> sink;
};
LogState& State() {
  static LogState* s = new LogState();
  return *s;
}
const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarn: return "WARN";
    case LogLevel::kError: return "ERROR";
  }
  return "?";
}
}  // namespace

void SetLogComponent(const std::string& component) {
  std::lock_guard<std::mutex> l(State().mu);
  State().component = component;
}
void SetMinLogLevel(LogLevel level) {
  std::lock_guard<std::mutex> l(State().mu);
  State().min_level = level;
}
void SetLogSink(std::function<void(const std::string&)> sink) {
  std::lock_guard<std::mutex> l(State().mu);
  State().sink = std::move(sink);
}

void Log(LogLevel level, const std::string& message) {
  LogState& st = State();
  std::lock_guard<std::mutex> l(st.mu);
  if (level < st.min_level) return;
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc;
  gmtime_r(&ts.tv_sec, &utc);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ts.tv_nsec / 1000000));
  std::string line = std::string(stamp) + " " + LevelName(level) + " " + st.component + ": ";
  // One event, one line: fold embedded newlines.
  for (char c : message) line.push_back(c == '\n' ? ' ' : c);
  line.push_back('\n');
  if (st.sink) {
    st.sink(line);
    return;
  }
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(2, line.data() + off, line.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

}  // namespace accel
