// The developer tools' pure parts: time arguments, the SVG plot, the
// comparison, item sizes, and the replay's batch plan (tools/row_reader.h,
// tools/tool_common.h).
#include "tools/row_reader.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "phone-relay/dynamodb_row.h"
#include "phone-relay/second_rows.h"
#include "tools/tool_common.h"

namespace accel {
namespace tools {
namespace {

int64_t Ns(const std::string& text) {
  int64_t ns = 0;
  Status s = ParseTimeArg(text, &ns);
  EXPECT_TRUE(s.ok()) << text << ": " << s.ToString();
  return ns;
}

TEST(ParseTimeArgTest, EpochAndIsoAgree) {
  const int64_t t = int64_t{1657533977} * 1000000000;
  EXPECT_EQ(Ns("1657533977"), t);
  EXPECT_EQ(Ns("2022-07-11T10:06:17Z"), t);
  EXPECT_EQ(Ns("2022-07-11T10:06:17"), t);  // no offset: UTC
  EXPECT_EQ(Ns("2022-07-11t10:06:17z"), t);
  EXPECT_EQ(Ns("2022-07-11T12:06:17+02:00"), t);
  EXPECT_EQ(Ns("2022-07-11T12:06:17+0200"), t);
  EXPECT_EQ(Ns("2022-07-11T12:06:17+02"), t);
  EXPECT_EQ(Ns("2022-07-11T04:36:17-05:30"), t);
  EXPECT_EQ(Ns("2022-07-11T10:06:17.25Z"), t + 250000000);
  EXPECT_EQ(Ns("2022-07-11T12:06:17.000000001+02:00"), t + 1);
  EXPECT_EQ(Ns("1657533977.25"), t + 250000000);
  EXPECT_EQ(Ns("1657533977.123456789"), t + 123456789);
  EXPECT_EQ(Ns("0"), 0);
  EXPECT_EQ(Ns("-1.5"), -1500000000);
  EXPECT_EQ(Ns("1969-12-31T23:59:59Z"), -1000000000);
  EXPECT_EQ(Ns("2024-02-29T00:00:00Z"), int64_t{1709164800} * 1000000000);
}

TEST(ParseTimeArgTest, RejectsWithTheFormsInTheMessage) {
  for (const char* bad :
       {"", "yesterday", "1657533977.", "1657533977.1234567891", "1.5e9", "2022-07-11",
        "2022-07-11T10:06", "2022-07-11 10:06:17Z", "2022-07-11T10:06:17ZZ",
        "2022-07-11T10:06:17+2", "2022-07-11T10:06:17+02:", "2022-07-11T10:06:17+24:00",
        "2022-07-11T10:06:17.Z", "2022-02-30T00:00:00Z", "2023-02-29T00:00:00Z",
        "2022-07-11T24:00:00Z", "2022-07-11T10:60:00Z", "99999999999999999999", "-"}) {
    int64_t ns = 0;
    Status s = ParseTimeArg(bad, &ns);
    EXPECT_TRUE(s.IsInvalidArgument()) << "'" << bad << "' was accepted as " << ns;
    EXPECT_NE(s.message().find("'" + std::string(bad) + "'"), std::string::npos) << s.message();
  }
  int64_t ns = 0;
  EXPECT_NE(ParseTimeArg("x", &ns).message().find("YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm|-hh:mm]"),
            std::string::npos);
}

TEST(FormatUtcTest, Forms) {
  EXPECT_EQ(FormatUtc(int64_t{1657533977} * 1000000000), "2022-07-11T10:06:17Z");
  EXPECT_EQ(FormatUtc(int64_t{1657533977810} * 1000000), "2022-07-11T10:06:17.810Z");
  EXPECT_EQ(FormatUtc(int64_t{1657533977} * 1000000000 + 5), "2022-07-11T10:06:17.000000005Z");
  EXPECT_EQ(FormatUtc(-500000000), "1969-12-31T23:59:59.500Z");
}

TEST(XmlEscapeTest, Specials) {
  EXPECT_EQ(XmlEscape("a<b>&\"c'\x01"), "a&lt;b&gt;&amp;&quot;c&apos;?");
}

std::vector<Sample> Synthetic(int64_t t0, int64_t period_ns, size_t n) {
  std::vector<Sample> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = Sample{t0 + static_cast<int64_t>(i) * period_ns, std::sin(i * 0.01), std::cos(i * 0.02),
                  1 + 0.1 * std::sin(i * 0.3)};
  return v;
}

size_t Count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

// Points per series path, and how many runs ("M") it has.
std::vector<size_t> PathPoints(const std::string& svg, std::vector<size_t>* runs = nullptr) {
  std::vector<size_t> out;
  for (size_t p = svg.find("<path"); p != std::string::npos; p = svg.find("<path", p + 1)) {
    size_t a = svg.find(" d=\"", p) + 4, b = svg.find('"', a);
    out.push_back(Count(svg.substr(a, b - a), ","));
    if (runs) runs->push_back(Count(svg.substr(a, b - a), "M"));
  }
  return out;
}

TEST(RenderSvgTest, ShortRangeDrawsEverySampleWithAxesAndLegend) {
  const int64_t t0 = int64_t{1657533977810} * 1000000;
  auto samples = Synthetic(t0, 20000000, 250);  // 5 s at 50 Hz
  std::string svg = RenderSvg(samples, "device <a&b>, \"quoted\"");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("device &lt;a&amp;b&gt;, &quot;quoted&quot;"), std::string::npos);
  EXPECT_EQ(svg.find("<a&b>"), std::string::npos);
  EXPECT_NE(svg.find(">acceleration (g)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">time since 2022-07-11T10:06:17.810Z (s)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">x (g)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">y (g)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">z (g)</text>"), std::string::npos);
  std::vector<size_t> runs;
  EXPECT_EQ(PathPoints(svg, &runs), (std::vector<size_t>{250, 250, 250}));
  EXPECT_EQ(runs, (std::vector<size_t>{1, 1, 1}));
  EXPECT_EQ(Count(svg, "<svg"), 1u);
  EXPECT_EQ(Count(svg, "</svg>"), 1u);
}

TEST(RenderSvgTest, DayIsDownsampledToTheEnvelopeAndLabelledInHours) {
  // A day at 50 Hz: 4.32 million samples become at most 2 points per pixel column.
  auto samples = Synthetic(int64_t{1700000000} * 1000000000, 20000000, 86400 * 50);
  std::string svg = RenderSvg(samples, "day");
  for (size_t n : PathPoints(svg)) {
    EXPECT_GT(n, 1000u);
    EXPECT_LE(n, 2u * 911);
  }
  EXPECT_NE(svg.find(">time since 2023-11-14T22:13:20Z (h)</text>"), std::string::npos);
  EXPECT_LT(svg.size(), 100000u);  // docs/tools.md: a day stays under 100 KB
  // A 20-minute range reads in minutes.
  std::string mins = RenderSvg(Synthetic(0, 1000000000, 1200), "m");
  EXPECT_NE(mins.find("(min)</text>"), std::string::npos);
}

TEST(RenderSvgTest, PenLiftsOverGapsInTheData) {
  // Two recordings 20 minutes apart, short and long enough for both drawing modes.
  for (size_t n : {300, 3000}) {
    auto a = Synthetic(0, 10000000, n);
    auto b = Synthetic(int64_t{1200} * 1000000000, 10000000, n);
    a.insert(a.end(), b.begin(), b.end());
    std::vector<size_t> runs;
    PathPoints(RenderSvg(a, "gap"), &runs);
    EXPECT_EQ(runs, (std::vector<size_t>{2, 2, 2})) << n;
  }
}

TEST(RenderSvgTest, EmptyIsStillAWellFormedDocument) {
  std::string svg = RenderSvg({}, "nothing & more");
  EXPECT_NE(svg.find("no samples"), std::string::npos);
  EXPECT_NE(svg.find("nothing &amp; more"), std::string::npos);
  EXPECT_EQ(Count(svg, "</svg>"), 1u);
}

TEST(DynamoNumberBytesTest, SignificantDigits) {
  EXPECT_EQ(DynamoNumberBytes("0"), 2u);
  EXPECT_EQ(DynamoNumberBytes("1"), 2u);
  EXPECT_EQ(DynamoNumberBytes("100"), 2u);
  EXPECT_EQ(DynamoNumberBytes("1657533977.004211"), 9u);  // 16 significant digits
  EXPECT_EQ(DynamoNumberBytes("0.00006103515625"), 6u);   // 6103515625: 10 digits
  EXPECT_EQ(DynamoNumberBytes("-12.5"), 3u);
}

QSample Q(int64_t t, int32_t x) { return QSample{t, x, 0, 0}; }

TEST(VerifyTest, CountsMissingDuplicateAndDifferent) {
  std::vector<QSample> src = {Q(1, 1), Q(2, 2), Q(2, 2), Q(3, 3), Q(4, 4)};
  RowSamples r;
  r.samples = {Q(1, 1), Q(2, 2), Q(2, 2), Q(2, 2), Q(3, 9), Q(7, 7)};
  r.item_bytes = 100;
  VerifyReport rep = Verify(src, {r});
  EXPECT_EQ(rep.samples_in, 5u);
  EXPECT_EQ(rep.samples_verified, 3u);  // 1, 2, 2
  EXPECT_EQ(rep.duplicates, 2u);        // the third 2, the unexpected 7
  EXPECT_EQ(rep.mismatched, 1u);        // t=3
  EXPECT_EQ(rep.missing, 1u);           // t=4
  EXPECT_EQ(rep.rows, 1u);
  EXPECT_DOUBLE_EQ(rep.avg_row_bytes, 100);
  EXPECT_FALSE(rep.ok());
  EXPECT_TRUE(Verify(src, {RowSamples{"d", 0, 0, 0, src}}).ok());
}

TEST(KeepRangeTest, HalfOpenOnSampleTimes) {
  std::vector<RowSamples> rows(2);
  rows[0].samples = {Q(10, 0), Q(15, 0), Q(19, 0)};
  rows[1].samples = {Q(20, 0), Q(25, 0)};
  KeepRange(15, 20, &rows);
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].samples.size(), 2u);
  EXPECT_EQ(rows[0].samples[0].t_ns, 15);
  EXPECT_EQ(rows[0].samples[1].t_ns, 19);
}

TEST(DecodeRowItemTest, RoundTripsTheRelaysItemAndBillsLikeItemSizeBytes) {
  const int64_t second = 1657533977;
  std::vector<QSample> qs;
  for (int i = 0; i < 100; ++i)
    qs.push_back(QSample{second * 1000000000 + i * 9950000, i, -i, 16384});
  std::string block;
  ASSERT_TRUE(relay::EncodeSecondBlock(second, Resolution::kDefaultStepG, qs, &block).ok());
  std::vector<uint64_t> seqs = {1657533977810000, 1657533977810001};
  relay::RowItem item;
  item.identity_id = "us-east-1:someone";
  item.device_id = "replay-0123456789abcdef";
  item.second = second;
  item.count = 100;
  item.block = block;
  item.resolution_g = Resolution::kDefaultStepG;
  item.seqs = &seqs;
  std::string json;
  relay::AppendItemJson(item, &json);
  RowSamples r;
  ASSERT_TRUE(DecodeRowItem(nlohmann::json::parse(json), &r).ok());
  EXPECT_EQ(r.second, second);
  EXPECT_EQ(r.device_id, item.device_id);
  EXPECT_EQ(r.samples.size(), 100u);
  EXPECT_EQ(r.item_bytes, relay::ItemSizeBytes(item));
  // A wrong count is corruption naming the row.
  auto bad = nlohmann::json::parse(json);
  bad["n"]["N"] = "99";
  Status s = DecodeRowItem(bad, &r);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("n=99"), std::string::npos) << s.message();
}

TEST(ReplayPlanTest, DeviceIdFollowsTimestampsOnly) {
  auto a = Synthetic(int64_t{1657533977} * 1000000000, 10000000, 1000);
  auto b = a;
  for (Sample& s : b) s.x += 0.5;  // other values, same times (another resolution, a batch file)
  EXPECT_EQ(DefaultReplayDeviceId(a), DefaultReplayDeviceId(b));
  auto c = a;
  c[500].t_ns += 1;
  EXPECT_NE(DefaultReplayDeviceId(a), DefaultReplayDeviceId(c));
  EXPECT_EQ(DefaultReplayDeviceId(a).size(), std::string("replay-").size() + 16);
  EXPECT_EQ(ReplayFirstSequence(a), 1657533977000000u);
  EXPECT_EQ(ReplayFirstSequence(Synthetic(-5000, 1, 3)), 1u);
  EXPECT_EQ(ReplayFirstSequence({}), 1u);
}

TEST(ReplayPlanTest, EstimateMatchesTheItemsOfTheCuts) {
  // 4000 samples at 100 Hz: batches of 1500 split seconds 15 and 30.
  const int64_t t0 = int64_t{1700000000} * 1000000000;
  std::vector<QSample> qs;
  for (int i = 0; i < 4000; ++i)
    qs.push_back(QSample{t0 + i * int64_t{10000000}, i % 100, 0, 16384});
  auto e = EstimateRows(qs, Resolution::kDefaultStepG, "p", "d", 1000, kReplayBatchSamples);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->rows, 40u);
  // Second 15 holds batches 1000 and 1001: its item is bigger by one number than its neighbours.
  std::string block;
  std::vector<QSample> s14(qs.begin() + 1400, qs.begin() + 1500);
  ASSERT_TRUE(relay::EncodeSecondBlock(1700000014, Resolution::kDefaultStepG, s14, &block).ok());
  std::vector<uint64_t> one = {1000};
  relay::RowItem item{"p", "d", 1700000014, 100, block, Resolution::kDefaultStepG, &one, 1};
  size_t single = relay::ItemSizeBytes(item);
  EXPECT_GT(e->avg_row_bytes, single - 20.0);
  EXPECT_LT(e->avg_row_bytes, single + 20.0);
}

}  // namespace
}  // namespace tools
}  // namespace accel
