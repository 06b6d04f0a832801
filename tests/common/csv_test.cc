#include "common/csv.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/env.h"

namespace accel {

TEST(CsvTest, ParsesTheSharedLayout) {
  std::vector<Sample> s;
  ASSERT_TRUE(ParseSampleCsv("t_ns,x_g,y_g,z_g\r\n1,0.5,-0.25,1e-3\n2,0,0,0", "t.csv", &s).ok());
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].t_ns, 1);
  EXPECT_EQ(s[0].x, 0.5);
  EXPECT_EQ(s[0].y, -0.25);
  EXPECT_EQ(s[0].z, 0.001);
  EXPECT_EQ(s[1].t_ns, 2);
}

TEST(CsvTest, ErrorsNameLineColumnAndExpectation) {
  std::vector<Sample> s;
  Status st = ParseSampleCsv("t_ns,x_g,y_g,z_g\n1,0,0,0\n2,0,abc,0\n", "walk.csv", &s);
  EXPECT_EQ(st.message(),
            "walk.csv:3: column 3 (y_g): expected a finite decimal number in g, got 'abc'");
  st = ParseSampleCsv("t_ns,x_g,y_g,z_g\n1.5,0,0,0\n", "a.csv", &s);
  EXPECT_EQ(st.message(), "a.csv:2: column 1 (t_ns): expected integer nanoseconds, got '1.5'");
  st = ParseSampleCsv("t_ns,x_g,y_g,z_g\n1,0,0\n", "a.csv", &s);
  EXPECT_EQ(st.message(), "a.csv:2: column 3 (y_g): expected 4 comma-separated fields, found 3");
  st = ParseSampleCsv("t_ns,x_g,y_g,z_g\n1,0,0,0,9\n", "a.csv", &s);
  EXPECT_EQ(st.message(),
            "a.csv:2: column 4 (z_g): expected end of line after 4 fields, found ','");
  st = ParseSampleCsv("time,x,y,z\n", "a.csv", &s);
  EXPECT_EQ(st.message(), "a.csv:1: expected the header 't_ns,x_g,y_g,z_g', got 'time,x,y,z'");
  st = ParseSampleCsv("", "a.csv", &s);
  EXPECT_TRUE(st.IsInvalidArgument());
  st = ParseSampleCsv("t_ns,x_g,y_g,z_g\n99999999999999999999,0,0,0\n", "a.csv", &s);
  EXPECT_NE(st.message().find("out of the int64 range"), std::string::npos);
  st = ParseSampleCsv("t_ns,x_g,y_g,z_g\n1,0,0,nan\n", "a.csv", &s);
  EXPECT_NE(st.message().find("column 4 (z_g)"), std::string::npos);
}

TEST(CsvTest, WriterRoundTripsEveryDoubleExactly) {
  std::vector<Sample> in = {{1657533977810000000, 0.03907584637382367, -0.36047467398544913, 1.0},
                            {-5, 1.0 / 16384 * 12345, -2.7, 0.0}};
  std::vector<Sample> out;
  ASSERT_TRUE(ParseSampleCsv(FormatSampleCsv(in), "rt", &out).ok());
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].t_ns, in[i].t_ns);
    EXPECT_EQ(out[i].x, in[i].x);
    EXPECT_EQ(out[i].y, in[i].y);
    EXPECT_EQ(out[i].z, in[i].z);
  }
}

TEST(CsvTest, WriterHandlesTheLongestDoubles) {
  // Fixed notation of these is 300+ characters; a value from a batch with a
  // tiny resolution used to overrun the writer's line buffer.
  const double extremes[] = {std::numeric_limits<double>::max(),
                             -std::numeric_limits<double>::max(),
                             std::numeric_limits<double>::min(),
                             -2.2250738585072009e-308,  // largest subnormal: 17 digits
                             -std::numeric_limits<double>::denorm_min(),
                             -1e-300 * 1048575,
                             1e-300,
                             -0.0};
  std::vector<Sample> in;
  for (double a : extremes)
    for (double b : extremes) in.push_back({INT64_MIN, a, b, -a});
  in.push_back({INT64_MAX, 0.1, -0.2, 0.3});
  const std::string text = FormatSampleCsv(in);
  std::vector<Sample> out;
  Status st = ParseSampleCsv(text, "rt", &out);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].t_ns, in[i].t_ns);
    EXPECT_EQ(out[i].x, in[i].x) << i;
    EXPECT_EQ(out[i].y, in[i].y) << i;
    EXPECT_EQ(out[i].z, in[i].z) << i;
  }
  // The values are really written in full fixed notation (no exponent).
  EXPECT_EQ(text.find('e'), std::string::npos);
  size_t longest = 0;
  for (size_t b = 0, e; b < text.size(); b = e + 1) {
    e = text.find('\n', b);
    longest = std::max(longest, e - b);
  }
  EXPECT_GT(longest, 900u);
}

// Writes `text` to a fresh temporary file and returns its path.
std::string TempCsv(const std::string& text) {
  char tmpl[] = "/tmp/csv_test_XXXXXX";
  int fd = mkstemp(tmpl);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  return tmpl;
}

TEST(CsvTest, StreamingReaderMatchesTheWholeTextParserAtEveryChunkSize) {
  // Same samples and the same errors (line numbers included), whatever the
  // piece boundaries: CRLF, BOM, no final newline, blank lines.
  std::vector<std::string> texts = {
      "t_ns,x_g,y_g,z_g\n1,0.5,-0.25,1e-3\n2,0,0,0",
      "\xEF\xBB\xBFt_ns,x_g,y_g,z_g\r\n1,0.5,-0.25,1e-3\r\n2,0,0,0\r\n",
      "t_ns,x_g,y_g,z_g\n1,0,0,0\n\n",
      "t_ns,x_g,y_g,z_g\n1,0,0,0\n\r\n",
      "t_ns,x_g,y_g,z_g\n1,0,0,0\n\n\n",
      "t_ns,x_g,y_g,z_g\n1,0,0,0\n\n2,0,0,0\n",
      "t_ns,x_g,y_g,z_g\n1,0,0,0\n2,0,abc,0\n3,0,0,0\n",
      "t_ns,x_g,y_g,z_g\n",
      "t_ns,x_g,y_g,z_g",
      "time,x,y,z\n1,0,0,0\n",
      "",
      "\n"};
  std::string real;
  ASSERT_TRUE(Env::Default()
                  ->ReadFile(std::string(ACCEL_SOURCE_DIR) + "/tests/data/s04_07_sw.norm.csv",
                             &real, 1 << 24)
                  .ok());
  texts.push_back(real);
  for (const std::string& text : texts) {
    const std::string path = TempCsv(text);
    std::vector<Sample> want;
    Status want_st = ParseSampleCsv(text, path, &want);
    for (size_t chunk :
         {size_t{1}, size_t{2}, size_t{7}, size_t{64}, size_t{4096}, size_t{1} << 20}) {
      SCOPED_TRACE("text " + std::to_string(&text - &texts[0]) + " chunk " + std::to_string(chunk));
      std::vector<Sample> got;
      Status st = ForEachSampleInCsvFile(
          path,
          [&got](const Sample& s) {
            got.push_back(s);
            return Status::OK();
          },
          chunk);
      EXPECT_EQ(st.ToString(), want_st.ToString());
      if (want_st.ok()) {
        ASSERT_EQ(got.size(), want.size());
        for (size_t i = 0; i < got.size(); ++i) {
          EXPECT_EQ(got[i].t_ns, want[i].t_ns);
          EXPECT_EQ(got[i].x, want[i].x);
          EXPECT_EQ(got[i].y, want[i].y);
          EXPECT_EQ(got[i].z, want[i].z);
        }
      }
    }
    std::vector<Sample> whole;
    EXPECT_EQ(ReadSampleCsvFile(path, &whole).ToString(), want_st.ToString());
    if (want_st.ok()) {
      EXPECT_EQ(whole.size(), want.size());
    }
    unlink(path.c_str());
  }
}

TEST(CsvTest, StreamingReaderStopsOnSinkErrorsAndBadFiles) {
  const std::string path = TempCsv("t_ns,x_g,y_g,z_g\n1,0,0,0\n2,0,0,0\n3,0,0,0\n");
  int calls = 0;
  Status st = ForEachSampleInCsvFile(path, [&calls](const Sample& s) {
    ++calls;
    return s.t_ns == 2 ? Status::InvalidArgument("enough") : Status::OK();
  });
  EXPECT_EQ(st.message(), "enough");
  EXPECT_EQ(calls, 2);
  unlink(path.c_str());
  st = ForEachSampleInCsvFile("/nonexistent/x.csv", [](const Sample&) { return Status::OK(); });
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
  // A file without line ends is refused once its first line passes the cap.
  const std::string junk = TempCsv("t_ns,x_g,y_g,z_g\n" + std::string(kMaxCsvLineBytes + 10, '7'));
  st = ForEachSampleInCsvFile(junk, [](const Sample&) { return Status::OK(); });
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_NE(st.message().find("a line longer than"), std::string::npos) << st.message();
  unlink(junk.c_str());
}

TEST(CsvTest, ReadsEveryRealDataFile) {
  std::string dir = std::string(ACCEL_SOURCE_DIR) + "/tests/data";
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr);
  int files = 0;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() < 4 || name.substr(name.size() - 4) != ".csv") continue;
    std::vector<Sample> s;
    Status st = ReadSampleCsvFile(dir + "/" + name, &s);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_GT(s.size(), 900u) << name;
    ++files;
  }
  closedir(d);
  EXPECT_GE(files, 5);
}

}  // namespace accel
