#include "watch-agent/file_recorder.h"

#include <algorithm>
#include <cstdio>

#include "common/batch_format.h"
#include "common/csv.h"
#include "common/env.h"

namespace accel {

Status FileRecorder::LoadFile(const std::string& path, std::vector<Sample>* out) {
  std::string bytes;
  ACCEL_RETURN_IF_ERROR(Env::Default()->ReadFile(path, &bytes, uint64_t{1} << 30));
  BatchHeader header;
  if (DecodeBatchHeader(bytes, &header).ok()) {
    std::vector<QSample> q;
    ACCEL_RETURN_IF_ERROR(DecodeBatch(bytes, &header, &q).WithContext(path));
    auto res = Resolution::FromStep(header.resolution_g);
    if (!res.ok()) return res.status().WithContext(path);
    out->reserve(out->size() + q.size());
    for (const QSample& s : q) out->push_back(res->ToSample(s));
    return Status::OK();
  }
  std::vector<Sample> parsed;
  ACCEL_RETURN_IF_ERROR(ParseSampleCsv(bytes, path, &parsed));
  out->insert(out->end(), parsed.begin(), parsed.end());
  return Status::OK();
}

Result<std::unique_ptr<FileRecorder>> FileRecorder::Open(const FileRecorderOptions& options,
                                                         Clock* clock) {
  if (options.paths.empty()) return Status::InvalidArgument("file source: no files given");
  if (options.pace < 0) return Status::InvalidArgument("file source: pace must be >= 0");
  std::unique_ptr<FileRecorder> r(new FileRecorder());
  r->opt_ = options;
  r->clock_ = clock;
  for (const std::string& p : options.paths) ACCEL_RETURN_IF_ERROR(LoadFile(p, &r->samples_));
  if (options.pace > 0 && !r->samples_.empty()) {
    r->play_ns_.resize(r->samples_.size());
    int64_t play = 0;
    for (size_t i = 1; i < r->samples_.size(); ++i) {
      int64_t step = r->samples_[i].t_ns - r->samples_[i - 1].t_ns;
      play += std::max<int64_t>(0, std::min(step, options.max_paced_gap_ns));
      r->play_ns_[i] = play;
    }
  }
  r->origin_mono_ns_ = clock->MonotonicNanos();
  return r;
}

Status FileRecorder::Fetch(uint64_t cursor, size_t max, FetchResult* out) {
  *out = FetchResult();
  out->first_id = cursor + 1;
  size_t n = samples_.size();
  size_t i = static_cast<size_t>(cursor);
  if (opt_.pace > 0 && !resumed_) {
    // A restarted replay continues where its cursor is, not from the top: the
    // sample after the cursor is due as long after now as it originally
    // followed the cursor's sample.
    resumed_ = true;
    if (i > 0 && i <= n)
      origin_mono_ns_ = clock_->MonotonicNanos() -
                        static_cast<int64_t>(static_cast<double>(play_ns_[i - 1]) / opt_.pace);
  }
  if (opt_.pace > 0 && i < n) {
    // Paced: sample i is readable once as much (scaled) time has passed since
    // the origin as separates it from the first sample.
    double elapsed = static_cast<double>(clock_->MonotonicNanos() - origin_mono_ns_) * opt_.pace;
    while (i < n && out->samples.size() < max && static_cast<double>(play_ns_[i]) <= elapsed)
      out->samples.push_back(samples_[i++]);
  } else {
    while (i < n && out->samples.size() < max) out->samples.push_back(samples_[i++]);
  }
  out->end_of_data = i >= n;
  return Status::OK();
}

std::string FileRecorder::Describe() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%zu file(s), %zu samples, pace %g", opt_.paths.size(),
                samples_.size(), opt_.pace);
  return buf;
}

}  // namespace accel
