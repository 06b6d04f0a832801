// The sample body shared by batch files and per-second sample blocks
// (docs/batch-format.md, "Body"): a byte-aligned parameter section, then four
// bit streams (time, x, y, z) of block-adaptive Rice codes. Internal to common/.
#ifndef ACCEL_COMMON_BATCH_BODY_H_
#define ACCEL_COMMON_BATCH_BODY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/sample.h"
#include "common/status.h"

namespace accel {
namespace batch_internal {

// Values per Rice block; the rule "sample_count - 1 <= 32 * body bytes" follows
// from every block costing at least one bit in each of the four streams.
inline constexpr size_t kRiceBlock = 16;
inline constexpr int kEscapeQuotient = 24;

// A value lattice c = floor((k * scale + offset) / 2^32), see the format doc.
struct Lattice {
  bool on = false;
  uint64_t scale = uint64_t{1} << 32;  // s * 2^32, s in [1, 2^20]
  uint64_t offset = 0;                 // (o + 1/2) * 2^32, < scale + 2^32
};

// Scratch space of the lattice search, kept by a warm encoder.
struct LatticeScratch {
  struct Point {
    double k, c;
  };
  std::vector<uint64_t> bitmap;      // which values occur
  std::vector<int32_t> uniq;         // the distinct values, ascending
  std::vector<int32_t> wk, wc;       // the walk along them: step index k and value c
  std::vector<uint32_t> cand, next;  // walk points the hulls are built from
  std::vector<Point> upper, lower;   // hull vertices
  std::vector<int32_t> k;            // each value's nearest index
};

// Finds the lattice the values sit on, or returns {on=false} when there is
// none worth using. Pure function of the values (any choice decodes exactly).
Lattice DetectLattice(const int32_t* values, size_t n);
Lattice DetectLattice(const int32_t* values, size_t n, LatticeScratch* scratch);

// What a warm encoder carries from one batch to the next: each axis's lattice
// (a sensor keeps its own) and scratch space.
struct EncoderState {
  Lattice lattice[3];
  double exception_rate[3] = {0, 0, 0};  // exceptions per value when it was found
  int search_backoff[3] = {0, 0, 0};     // batches between searches that find none
  int skip_search[3] = {0, 0, 0};        // batches left before the next search
  uint64_t time_gcd = 0;                 // the previous batch's time step gcd and base step
  int64_t time_base = 0;
  static constexpr size_t kRecentScales = 4;
  uint64_t recent_scales[kRecentScales] = {0, 0, 0, 0};  // lattice scales found, latest first
  std::vector<uint64_t> res64, res64b;  // time steps, then time residuals (two orders)
  std::vector<uint32_t> res32, res32b;  // one axis's residuals (two orders), padded to 16
  std::vector<int32_t> axis;            // one axis's values
  std::vector<int32_t> idx;             // their lattice indices
  std::vector<std::pair<uint32_t, int32_t>> exceptions;
  LatticeScratch lattice_scratch;
  std::string bits;
  // Tests: skip the fast paths (time steps in one pass, whole Rice blocks in
  // vector lanes), which must write the same bytes as the general ones.
  bool general_paths_only = false;
};

// True when every count of samples[0, n) is within +-Resolution::kMaxCount.
bool CountsInRange(const QSample* samples, size_t n);

// Appends the body of samples[0, n), n >= 1, to `out`. The caller codes the
// first timestamp; values must already be within +-Resolution::kMaxCount.
// With a state, lattices found for earlier batches are tried first.
void EncodeBody(const QSample* samples, size_t n, std::string* out, EncoderState* state = nullptr);

// Decodes a body of exactly `body.size()` bytes holding `n` >= 1 samples
// whose first timestamp is `first_t_ns`. `base_offset` is the body's offset in
// the enclosing file, used in error messages. `general_paths_only` (tests)
// skips the fast paths (whole blocks from 8-byte windows, axis blocks in
// vector lanes), which must give the same samples and the same errors.
Status DecodeBody(std::string_view body, size_t base_offset, int64_t first_t_ns, size_t n,
                  QSample* out, bool general_paths_only = false);

}  // namespace batch_internal
}  // namespace accel

#endif  // ACCEL_COMMON_BATCH_BODY_H_
