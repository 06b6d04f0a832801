// Helpers for the relay store tests: real batch files from the real codec,
// real data files, and a comparison of stored rows against source samples.
#ifndef ACCEL_TESTS_RELAY_STORE_TEST_BATCHES_H_
#define ACCEL_TESTS_RELAY_STORE_TEST_BATCHES_H_

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "common/batch_format.h"
#include "common/csv.h"
#include "common/sample.h"
#include "phone-relay/relay_store.h"
#include "phone-relay/second_rows.h"

namespace accel {
namespace relay {
namespace test {

// A batch file of `samples` for (device, seq), encoded by the real codec.
inline std::string MakeBatch(const std::string& device, uint64_t seq,
                             const std::vector<QSample>& samples,
                             double resolution_g = Resolution::kDefaultStepG) {
  BatchHeader h;
  h.device_id = device;
  h.sequence = seq;
  h.resolution_g = resolution_g;
  std::string out;
  Status st = EncodeBatch(h, samples, &out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

// `n` samples at `period_ns` from `t0_ns`, values a seeded random walk.
inline std::vector<QSample> Walk(int64_t t0_ns, size_t n, int64_t period_ns, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> step(-40, 40);
  std::vector<QSample> out;
  int32_t x = 0, y = 1000, z = 16384;
  for (size_t i = 0; i < n; ++i) {
    x += step(rng);
    y += step(rng);
    z += step(rng);
    out.push_back(QSample{t0_ns + static_cast<int64_t>(i) * period_ns, x, y, z});
  }
  return out;
}

// Every sample of every pending row of `device`, in row order.
inline std::vector<QSample> AllPendingSamples(RelayStore* store, const std::string& device) {
  std::vector<PendingRow> rows;
  Status st = store->ListPendingRows(&rows);
  EXPECT_TRUE(st.ok()) << st.ToString();
  std::vector<QSample> out;
  for (const PendingRow& r : rows) {
    if (r.device_id != device) continue;
    std::vector<QSample> s;
    st = DecodeSecondBlock(r.second, r.resolution_g, r.block, &s);
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(s.size(), r.count);
    for (const QSample& q : s) {
      EXPECT_EQ(EpochSecondOf(q.t_ns), r.second);
      out.push_back(q);
    }
  }
  return out;
}

inline std::string TestDataDir() { return std::string(ACCEL_SOURCE_DIR) + "/tests/data"; }

// A fresh directory, removed (with its files) at the end of the test.
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/relay-store-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) std::abort();
    path_ = buf.data();
  }
  ~ScratchDir() { (void)!std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace test
}  // namespace relay
}  // namespace accel

#endif  // ACCEL_TESTS_RELAY_STORE_TEST_BATCHES_H_
