// The DynamoDB item layout (docs/dynamodb-row.md): slot, sort key text,
// base64, the item JSON read back with a real JSON parser, and the item size
// at 50 Hz on real data.
#include "phone-relay/dynamodb_row.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "common/batch_format.h"
#include "common/csv.h"
#include "phone-relay/second_rows.h"
#include "tests/relay_store/test_batches.h"

namespace accel {
namespace relay {
namespace {

TEST(DynamoDbRowTest, DeviceSlotIsFnv1a64ModuloAndNeverZero) {
  // FNV-1a-64("") is the offset basis 0xcbf29ce484222325; "a" -> 0xaf63dc4c8601ec8c.
  EXPECT_EQ(DeviceSlot(""), 1 + 0xcbf29ce484222325ull % 999999);
  EXPECT_EQ(DeviceSlot("a"), 1 + 0xaf63dc4c8601ec8cull % 999999);
  std::mt19937 rng(7);
  for (int i = 0; i < 10000; ++i) {
    std::string id = "dev-" + std::to_string(rng());
    uint32_t s = DeviceSlot(id);
    ASSERT_GE(s, 1u);
    ASSERT_LE(s, 999999u);
  }
}

TEST(DynamoDbRowTest, SortKeyTextIsExactAndParsesBack) {
  EXPECT_EQ(SortKeyText(1657533977, 4211), "1657533977.004211");
  EXPECT_EQ(SortKeyText(0, 999999), "0.999999");
  EXPECT_EQ(SortKeyText(-1, 1), "-0.999999");  // -1 + 0.000001
  EXPECT_EQ(SortKeyText(-2, 999999), "-1.000001");
  EXPECT_EQ(SortKeyText(INT64_MAX, 7), "9223372036854775807.000007");
  EXPECT_EQ(SortKeyText(INT64_MIN, 7), "-9223372036854775807.999993");
  std::string appended = "t=";
  AppendSortKeyText(1700000000, 10, &appended);
  EXPECT_EQ(appended, "t=1700000000.000010");
  for (int64_t s : {int64_t{0}, int64_t{1}, int64_t{1700000000}, int64_t{-1}, int64_t{-12345}}) {
    for (uint32_t slot : {1u, 500000u, 999999u}) {
      int64_t s2;
      uint32_t slot2;
      std::string text = SortKeyText(s, slot);
      ASSERT_TRUE(ParseSortKey(text, &s2, &slot2).ok()) << text;
      EXPECT_EQ(s2, s) << text;
      EXPECT_EQ(slot2, slot) << text;
      // floor(t) is the second.
      EXPECT_EQ(static_cast<int64_t>(std::floor(std::stod(text))), s) << text;
    }
  }
  int64_t s;
  uint32_t slot;
  // DynamoDB's normalised echo drops trailing zeros.
  ASSERT_TRUE(ParseSortKey("1700000000.00508", &s, &slot).ok());
  EXPECT_EQ(s, 1700000000);
  EXPECT_EQ(slot, 5080u);
  ASSERT_TRUE(ParseSortKey("5.5", &s, &slot).ok());
  EXPECT_EQ(slot, 500000u);
  EXPECT_FALSE(ParseSortKey("12", &s, &slot).ok());
  EXPECT_FALSE(ParseSortKey("12.1234567", &s, &slot).ok());
  EXPECT_FALSE(ParseSortKey("12.", &s, &slot).ok());
  EXPECT_FALSE(ParseSortKey(".5", &s, &slot).ok());
  EXPECT_FALSE(ParseSortKey("12.000000", &s, &slot).ok());
  EXPECT_FALSE(ParseSortKey("x.000001", &s, &slot).ok());
}

TEST(DynamoDbRowTest, Base64RoundTripsEveryLength) {
  std::mt19937 rng(3);
  for (size_t n = 0; n < 300; ++n) {
    std::string in(n, '\0');
    for (char& c : in) c = static_cast<char>(rng());
    std::string enc, dec;
    AppendBase64(in, &enc);
    ASSERT_EQ(enc.size(), (n + 2) / 3 * 4);
    ASSERT_TRUE(DecodeBase64(enc, &dec).ok());
    ASSERT_EQ(dec, in);
  }
  std::string out;
  EXPECT_EQ((AppendBase64("foobar", &out), out), "Zm9vYmFy");
  out.clear();
  EXPECT_EQ((AppendBase64("fo", &out), out), "Zm8=");
  EXPECT_FALSE(DecodeBase64("Zm8", &out).ok());
  EXPECT_FALSE(DecodeBase64("Z=8=", &out).ok());
  EXPECT_FALSE(DecodeBase64("Zm*=", &out).ok());
}

// The table-driven encoder against the textbook one, six bits at a time.
TEST(DynamoDbRowTest, Base64MatchesABitByBitEncoder) {
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::mt19937 rng(11);
  for (size_t n = 0; n < 200; ++n) {
    std::string in(n, '\0');
    for (char& c : in) c = static_cast<char>(rng());
    if (n == 3) in = std::string("\xff\xff\xff", 3);  // the table's last entry
    std::string want;
    for (size_t bit = 0; bit < n * 8; bit += 6) {
      int v = 0;
      for (size_t b = bit; b < bit + 6; ++b)
        v = v * 2 + (b < n * 8 ? (static_cast<unsigned char>(in[b / 8]) >> (7 - b % 8)) & 1 : 0);
      want.push_back(alphabet[v]);
    }
    while (want.size() % 4) want.push_back('=');
    std::string got = "prefix";
    AppendBase64(in, &got);
    ASSERT_EQ(got, "prefix" + want) << n;
  }
}

TEST(DynamoDbRowTest, ExactDecimalReadsBack) {
  EXPECT_EQ(ExactDecimal(1.0 / 16384), "0.00006103515625");
  EXPECT_EQ(ExactDecimal(0.25), "0.25");
  EXPECT_EQ(ExactDecimal(1), "1");
  EXPECT_EQ(std::stod(ExactDecimal(0.1)), 0.1);
  // The last text is reused only for the very same value.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ExactDecimal(0.0), "0");
    EXPECT_EQ(ExactDecimal(-0.0), "-0");
    EXPECT_EQ(ExactDecimal(1.0 / 16384), "0.00006103515625");
    EXPECT_EQ(ExactDecimal(1.0 / 16384), "0.00006103515625");
    EXPECT_EQ(ExactDecimal(1.0 / 8192), "0.0001220703125");
  }
  std::string out = "r=";
  AppendExactDecimal(0.5, &out);
  EXPECT_EQ(out, "r=0.5");
}

TEST(DynamoDbRowTest, BatchWriteBodyIsValidJsonWithEveryAttribute) {
  std::vector<QSample> samples = test::Walk(1700000000LL * 1000000000, 50, 20000000, 1);
  std::string block;
  ASSERT_TRUE(EncodeSecondBlock(1700000000, Resolution::kDefaultStepG, samples, &block).ok());
  std::vector<uint64_t> seqs = {4, 5};
  RowItem item;
  item.identity_id = "us-east-1:\"quoted\"\\id\x01\tend";
  item.device_id = "watch-1";
  item.second = 1700000000;
  item.count = 50;
  item.block = block;
  item.resolution_g = Resolution::kDefaultStepG;
  item.seqs = &seqs;
  item.version = 3;
  BatchWriteBody body("accel-rows");
  body.Add(item);
  body.Add(item);
  auto j = nlohmann::json::parse(body.Finish());
  auto& puts = j["RequestItems"]["accel-rows"];
  ASSERT_EQ(puts.size(), 2u);
  auto& it = puts[0]["PutRequest"]["Item"];
  EXPECT_EQ(it["id"]["S"].get<std::string>(), std::string(item.identity_id));
  EXPECT_EQ(it["t"]["N"], SortKeyText(1700000000, DeviceSlot("watch-1")));
  EXPECT_EQ(it["d"]["S"], "watch-1");
  EXPECT_EQ(it["n"]["N"], "50");
  EXPECT_EQ(it["r"]["N"], "0.00006103515625");
  EXPECT_EQ(it["f"]["N"], "1");
  EXPECT_EQ(it["v"]["N"], "3");
  EXPECT_EQ(it["b"]["NS"], nlohmann::json::array({"4", "5"}));
  std::string raw;
  ASSERT_TRUE(DecodeBase64(it["s"]["B"].get<std::string>(), &raw).ok());
  std::vector<QSample> back;
  ASSERT_TRUE(DecodeSecondBlock(1700000000, Resolution::kDefaultStepG, raw, &back).ok());
  EXPECT_EQ(back, samples);
  body.Clear();
  body.Add(item);
  EXPECT_EQ(nlohmann::json::parse(body.Finish())["RequestItems"]["accel-rows"].size(), 1u);
}

// One write unit per row: every 50 Hz second of the real data (every other
// sample of the ~100 Hz files) is < 1 KB; the ~100 Hz size is only printed.
TEST(DynamoDbRowTest, RealDataRowsStayUnderOneKilobyte) {
  const char* files[] = {"s01_01_sw.norm.csv", "s02_03_sw.norm.csv", "s03_05_sw.norm.csv",
                         "s04_02_sw.norm.csv", "s04_07_sw.norm.csv", "s01_01_sp.norm.csv",
                         "s02_05_sp.norm.csv"};
  Resolution res;
  std::vector<uint64_t> seqs = {123456, 123457};
  size_t max_size = 0, rows = 0, max_100hz = 0;
  for (const char* f : files) {
    std::vector<Sample> src;
    ASSERT_TRUE(ReadSampleCsvFile(test::TestDataDir() + "/" + f, &src).ok());
    for (int stride : {1, 2}) {
      std::vector<QSample> q;
      for (size_t i = 0; i < src.size(); i += stride) {
        QSample s;
        ASSERT_TRUE(res.Quantise(src[i], &s).ok());
        q.push_back(s);
      }
      for (auto& [second, samples] : SplitBySecond(q)) {
        std::string block;
        ASSERT_TRUE(EncodeSecondBlock(second, res.step_g(), samples, &block).ok());
        RowItem item;
        item.identity_id = "us-east-1:0b8a9c3e-5b7e-4c1a-9d2f-3e4f5a6b7c8d";
        item.device_id = "watch-0123456789";
        item.second = second;
        item.count = uint32_t(samples.size());
        item.block = block;
        item.resolution_g = res.step_g();
        item.seqs = &seqs;
        size_t size = ItemSizeBytes(item);
        if (stride == 2) {
          max_size = std::max(max_size, size);
          ++rows;
        } else {
          max_100hz = std::max(max_100hz, size);
          continue;
        }
        EXPECT_LT(size, 1024u) << f << " second " << second << " (" << samples.size()
                               << " samples)";
      }
    }
  }
  std::printf("%zu rows at 50 Hz, largest item %zu bytes; largest ~100 Hz item %zu bytes\n", rows,
              max_size, max_100hz);
}

}  // namespace
}  // namespace relay
}  // namespace accel
