// Log: one line per event on stderr, with a UTC timestamp and a level, in a
// form journald and grep both like:
//   2026-11-24T06:31:15.123Z INFO watch-agent: batch 42 written (1500 samples)
// Secrets never go through here: callers log key ids, never keys or tokens.
#ifndef ACCEL_COMMON_LOG_H_
#define ACCEL_COMMON_LOG_H_

#include <functional>
#include <string>

namespace accel {

enum class LogLevel { kDebug = 0, kInfo, kWarn, kError };

// Process-wide settings. The default sink writes each line to fd 2 with a single write(2).
void SetLogComponent(const std::string& component);
void SetMinLogLevel(LogLevel level);
// Tests capture lines here; pass nullptr to restore stderr.
void SetLogSink(std::function<void(const std::string& line)> sink);

void Log(LogLevel level, const std::string& message);
inline void LogDebug(const std::string& m) { Log(LogLevel::kDebug, m); }
inline void LogInfo(const std::string& m) { Log(LogLevel::kInfo, m); }
inline void LogWarn(const std::string& m) { Log(LogLevel::kWarn, m); }
inline void LogError(const std::string& m) { Log(LogLevel::kError, m); }

}  // namespace accel

#endif  // ACCEL_COMMON_LOG_H_
