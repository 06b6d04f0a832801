// link-test-receiver as a process: prints its endpoint, stores committed
// batches durably, dedupes, and comes back after SIGKILL with its store intact.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "common/env.h"
#include "link/client.h"
#include "link/pairing.h"
#include "tests/link/link_test_util.h"

namespace accel {
namespace link {
namespace {

// A child process with its stdout on a pipe.
struct Child {
  pid_t pid = -1;
  int out = -1;
  ~Child() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (out >= 0) ::close(out);
  }
  // First stdout line, waiting at most 10 s.
  std::string ReadLine() {
    std::string line;
    char c;
    while (line.size() < 4096) {
      pollfd p{out, POLLIN, 0};
      if (::poll(&p, 1, 10000) != 1) return line + "<timeout>";
      if (::read(out, &c, 1) != 1) return line + "<eof>";
      if (c == '\n') return line;
      line.push_back(c);
    }
    return line;
  }
  int Wait() {
    int st = 0;
    ::waitpid(pid, &st, 0);
    pid = -1;
    return st;
  }
};

std::unique_ptr<Child> Spawn(const std::vector<std::string>& args) {
  int p[2];
  if (::pipe(p) != 0) return nullptr;
  auto c = std::make_unique<Child>();
  c->pid = ::fork();
  if (c->pid == 0) {
    ::dup2(p[1], 1);
    ::close(p[0]);
    ::close(p[1]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(p[1]);
  c->out = p[0];
  return c;
}

class ReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("accel_receiver_test");
    keys_ = JoinPath(dir_, "keys");
    ASSERT_TRUE(Env::Default()->CreateDirs(keys_, 0700).ok());
    psk_ = *CreatePairingSecret(JoinPath(keys_, "watch-1.key"));
  }
  void TearDown() override { testing::RemoveTree(dir_); }
  std::unique_ptr<Child> Start(std::string* endpoint, const std::string& ep = "tcp:127.0.0.1:0") {
    auto c = Spawn(
        {LINK_TEST_RECEIVER, "--endpoint", ep, "--dir", JoinPath(dir_, "store"), "--keys", keys_});
    EXPECT_NE(c, nullptr);
    if (!c) return nullptr;
    std::string line = c->ReadLine();
    EXPECT_EQ(line.rfind("listening ", 0), 0u) << line;
    *endpoint = line.substr(std::min<size_t>(line.size(), 10));
    return c;
  }
  ClientOptions Opts(const std::string& ep) {
    ClientOptions o;
    o.endpoint = ep;
    o.device_id = "watch-1";
    o.psk = psk_;
    return o;
  }
  std::string dir_, keys_, psk_;
};

TEST_F(ReceiverTest, StoresDedupesAndSurvivesSigkill) {
  std::mt19937_64 rng(12345);
  std::string ep;
  auto rx = Start(&ep);
  ASSERT_NE(rx, nullptr);
  ASSERT_EQ(ep.rfind("tcp:127.0.0.1:", 0), 0u) << ep;
  std::vector<std::string> batches;
  {
    auto c = Client::Connect(Opts(ep));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    for (int i = 0; i < 5; ++i) {
      batches.push_back(testing::RandomBytes(&rng, 8000));
      auto r = (*c)->SendBatch(i + 1, batches.back());
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->outcome, Outcome::kCommitted);
    }
  }
  ::kill(rx->pid, SIGKILL);
  rx->Wait();
  // Leftover of a write that a kill interrupted: swept at startup.
  std::string tmp = JoinPath(dir_, "store/watch-1/6.batch.tmp");
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), tmp + "x", "half").ok());
  ASSERT_TRUE(Env::Default()->RenameFile(tmp + "x", tmp).ok());

  rx = Start(&ep);
  ASSERT_NE(rx, nullptr);
  EXPECT_FALSE(Env::Default()->FileExists(tmp));
  auto c = Client::Connect(Opts(ep));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  for (int i = 0; i < 5; ++i) {
    std::string on_disk;
    ASSERT_TRUE(Env::Default()
                    ->ReadFile(JoinPath(dir_, "store/watch-1/" + std::to_string(i + 1) + ".batch"),
                               &on_disk)
                    .ok());
    EXPECT_EQ(on_disk, batches[i]);
    auto r = (*c)->SendBatch(i + 1, batches[i]);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->outcome, Outcome::kDuplicate);
  }
  auto r = (*c)->SendBatch(3, "other content");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, Outcome::kRejected);
  EXPECT_EQ(r->reason, "sequence reused with different content");
  c.value().reset();  // drop the connection before SIGTERM
  ::kill(rx->pid, SIGTERM);
  int st = rx->Wait();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}

TEST_F(ReceiverTest, ServesUnixSocketAndRejectsBadUsage) {
  std::string ep;
  auto rx = Start(&ep, "unix:" + JoinPath(dir_, "rx.sock"));
  ASSERT_NE(rx, nullptr);
  EXPECT_EQ(ep, "unix:" + JoinPath(dir_, "rx.sock"));
  auto c = Client::Connect(Opts(ep));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE((*c)->SendBatch(1, "x").ok());

  auto bad = Spawn({LINK_TEST_RECEIVER, "--endpoint", "tcp:127.0.0.1:0", "--bogus", "1"});
  ASSERT_NE(bad, nullptr);
  int st = bad->Wait();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 2) << st;
}

}  // namespace
}  // namespace link
}  // namespace accel
