// A real server check: moto_server on loopback with request authentication enforced accepts
// DynamoDB calls signed by our signer, and rejects the same calls with a wrong secret, a tampered
// body or a tampered header with its own signature error (403 SignatureDoesNotMatch).
//
// The test starts `python3 -m moto.server -H 127.0.0.1 -p 0` itself, reads the port it prints,
// waits until GET /moto-api/ answers, creates an IAM user + access key, an assumable role (for STS
// credentials with a session token) and a table with boto3 while authentication is off, turns it on
// with POST /moto-api/reset-auth "0", and then talks DynamoDB over libcurl. The server is killed by
// its process id when the suite ends (also on failure; PR_SET_PDEATHSIG covers a crashed test).
#include <curl/curl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "sigv4/signer.h"

namespace accel::sigv4 {
namespace {

using Clock = std::chrono::steady_clock;

struct HttpResult {
  long status = 0;
  std::string body;
  std::string error;
};

size_t Append(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

// One HTTP request over libcurl with exactly the given headers (curl adds Host, Content-Length and
// Accept, none of which we sign except Host, which curl derives from the URL the same way we do).
HttpResult Http(const std::string& method, const std::string& url,
                const std::vector<Header>& headers, const std::string& body) {
  HttpResult r;
  CURL* c = curl_easy_init();
  if (c == nullptr) {
    r.error = "curl_easy_init failed";
    return r;
  }
  curl_slist* list = nullptr;
  for (const Header& h : headers) list = curl_slist_append(list, (h.name + ": " + h.value).c_str());
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    r.error = curl_easy_strerror(rc);
  } else {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  }
  curl_slist_free_all(list);
  curl_easy_cleanup(c);
  return r;
}

// moto_server as a child process; its output is drained by a thread (so the pipe never fills) and
// kept for diagnostics.
class MotoServer {
 public:
  ~MotoServer() { Stop(); }

  bool Start(std::string* error) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      *error = "pipe failed";
      return false;
    }
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) {
      *error = "fork failed";
      return false;
    }
    if (pid_ == 0) {
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test, even if it crashes
      if (getppid() != parent) _exit(127);
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      execlp("python3", "python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", "0",
             static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    read_fd_ = fds[0];
    // Wait (bounded) for "Running on http://127.0.0.1:PORT".
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    std::string seen;
    while (port_ == 0) {
      const int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
      pollfd p{read_fd_, POLLIN, 0};
      if (left <= 0 || poll(&p, 1, left) <= 0) {
        *error = "moto_server did not print its address within 60 s; output:\n" + seen;
        return false;
      }
      char buf[4096];
      const ssize_t n = read(read_fd_, buf, sizeof(buf));
      if (n <= 0) {
        *error = "moto_server exited (python3 with moto[server] is required); output:\n" + seen;
        return false;
      }
      seen.append(buf, static_cast<size_t>(n));
      const size_t at = seen.find("Running on http://127.0.0.1:");
      if (at != std::string::npos) {
        const size_t b = at + 28;
        const size_t e = seen.find_first_not_of("0123456789", b);
        if (e != std::string::npos) port_ = std::stoi(seen.substr(b, e - b));
      }
    }
    output_ = seen;
    drain_ = std::thread([this] {
      char buf[4096];
      ssize_t n;
      while ((n = read(read_fd_, buf, sizeof(buf))) > 0) {
        std::lock_guard<std::mutex> l(mu_);
        output_.append(buf, static_cast<size_t>(n));
      }
    });
    // Ready when the management API answers. The address is printed after the socket listens, so
    // the first attempt normally succeeds; a few retries are paced by poll() on a never-ready fd.
    for (int attempt = 0; attempt < 100; ++attempt) {
      HttpResult r = Http("GET", base() + "/moto-api/", {}, "");
      if (r.error.empty() && r.status == 200) return true;
      poll(nullptr, 0, 100);
    }
    *error = "GET /moto-api/ never answered 200";
    return false;
  }

  void Stop() {
    if (pid_ > 0) {
      kill(-pid_, SIGTERM);  // the child leads its own process group
      int st;
      const auto deadline = Clock::now() + std::chrono::seconds(10);
      while (waitpid(pid_, &st, WNOHANG) == 0) {
        if (Clock::now() > deadline) {
          kill(-pid_, SIGKILL);
          waitpid(pid_, &st, 0);
          break;
        }
        poll(nullptr, 0, 20);
      }
      pid_ = -1;
    }
    if (drain_.joinable()) drain_.join();  // EOF once the child is gone
    if (read_fd_ >= 0) close(read_fd_);
    read_fd_ = -1;
  }

  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string output() {
    std::lock_guard<std::mutex> l(mu_);
    return output_.size() > 4000 ? output_.substr(output_.size() - 4000) : output_;
  }

 private:
  pid_t pid_ = -1;
  int read_fd_ = -1;
  int port_ = 0;
  std::thread drain_;
  std::mutex mu_;
  std::string output_;
};

// Runs while authentication is still off: IAM user + key with a DynamoDB policy, a role to assume
// (STS credentials carry a session token), and the table.
const char kSetupScript[] = R"PY(
import json, sys, boto3
ep = sys.argv[1]
kw = dict(endpoint_url=ep, region_name="us-east-1",
          aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
allow = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]})
iam = boto3.client("iam", **kw)
iam.create_user(UserName="relay")
iam.put_user_policy(UserName="relay", PolicyName="ddb", PolicyDocument=allow)
key = iam.create_access_key(UserName="relay")["AccessKey"]
iam.create_role(RoleName="relay-role", AssumeRolePolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}))
iam.put_role_policy(RoleName="relay-role", PolicyName="ddb", PolicyDocument=allow)
role = boto3.client("sts", **kw).assume_role(
    RoleArn="arn:aws:iam::123456789012:role/relay-role", RoleSessionName="relay")["Credentials"]
boto3.client("dynamodb", **kw).create_table(
    TableName="accel", BillingMode="PAY_PER_REQUEST",
    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "t", "KeyType": "RANGE"}],
    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                          {"AttributeName": "t", "AttributeType": "N"}])
print(json.dumps({"user": [key["AccessKeyId"], key["SecretAccessKey"]],
                  "role": [role["AccessKeyId"], role["SecretAccessKey"], role["SessionToken"]]}))
)PY";

class MotoSigv4Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    server_ = new MotoServer();
    if (!server_->Start(&setup_error_)) return;
    const std::string script = std::string(ACCEL_BINARY_DIR) + "/sigv4_moto_setup." +
                               std::to_string(getpid()) + ".py";  // ctest runs cases in parallel
    FILE* f = std::fopen(script.c_str(), "w");
    if (f == nullptr) {
      setup_error_ = "cannot write " + script;
      return;
    }
    std::fputs(kSetupScript, f);
    std::fclose(f);
    FILE* p = popen(("python3 '" + script + "' " + server_->base() + " 2>&1").c_str(), "r");
    std::string out;
    char buf[4096];
    size_t n;
    while (p != nullptr && (n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    const int st = p != nullptr ? pclose(p) : -1;
    std::remove(script.c_str());
    const nlohmann::json keys = nlohmann::json::parse(out, nullptr, false);
    if (st != 0 || keys.is_discarded()) {
      setup_error_ = "boto3 setup failed: " + out;
      return;
    }
    user_ = Credentials{keys["user"][0], keys["user"][1], ""};
    role_ = Credentials{keys["role"][0], keys["role"][1], keys["role"][2]};
    HttpResult r = Http("POST", server_->base() + "/moto-api/reset-auth",
                        {{"Content-Type", "text/plain"}}, "0");
    if (r.status != 200 || r.body.find("\"ok\"") == std::string::npos) {
      setup_error_ = "reset-auth failed: " + r.error + " " + r.body;
    }
  }
  static void TearDownTestSuite() {
    delete server_;  // kills moto by pid
    server_ = nullptr;
    curl_global_cleanup();
  }
  void SetUp() override {
    ASSERT_TRUE(setup_error_.empty()) << setup_error_ << "\nmoto output:\n" << server_->output();
  }

  // Signs a DynamoDB JSON call and sends it; `tamper` may change the request after signing.
  HttpResult Call(const Credentials& signing_creds, const std::string& target,
                  const std::string& body,
                  const std::function<void(std::vector<Header>*, std::string*)>& tamper = nullptr) {
    std::vector<Header> headers = {{"Content-Type", "application/x-amz-json-1.0"},
                                   {"X-Amz-Target", "DynamoDB_20120810." + target}};
    SigningParams params;
    params.region = "us-east-1";
    params.service = "dynamodb";
    params.unix_seconds = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    std::vector<Header> added;
    Status s =
        signer_.Sign("POST", server_->base() + "/", headers, body, signing_creds, params, &added);
    EXPECT_TRUE(s.ok()) << s.ToString();
    headers.insert(headers.end(), added.begin(), added.end());
    std::string sent_body = body;
    if (tamper) tamper(&headers, &sent_body);
    HttpResult r = Http("POST", server_->base() + "/", headers, sent_body);
    EXPECT_TRUE(r.error.empty()) << r.error;
    return r;
  }

  static std::string PutBody(const std::string& id, const std::string& payload) {
    return R"({"TableName":"accel","Item":{"id":{"S":")" + id + R"("},"t":{"N":"1700000000"},)" +
           R"("d":{"S":")" + payload + R"("}}})";
  }
  static std::string GetBody(const std::string& id) {
    return R"({"TableName":"accel","Key":{"id":{"S":")" + id +
           R"("},"t":{"N":"1700000000"}},"ConsistentRead":true})";
  }

  static MotoServer* server_;
  static std::string setup_error_;
  static Credentials user_, role_;
  Signer signer_;
};

MotoServer* MotoSigv4Test::server_ = nullptr;
std::string MotoSigv4Test::setup_error_;
Credentials MotoSigv4Test::user_, MotoSigv4Test::role_;

TEST_F(MotoSigv4Test, SignedCallsAreAcceptedWithIamUserAndStsTokenCredentials) {
  HttpResult r = Call(user_, "ListTables", "{}");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"accel\""), std::string::npos) << r.body;

  r = Call(user_, "PutItem", PutBody("user-1", "hello"));
  EXPECT_EQ(r.status, 200) << r.body;
  r = Call(user_, "GetItem", GetBody("user-1"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("hello"), std::string::npos) << r.body;

  // Temporary credentials: X-Amz-Security-Token is added and signed.
  r = Call(role_, "PutItem", PutBody("role-1", "from-sts"));
  EXPECT_EQ(r.status, 200) << r.body;
  r = Call(role_, "GetItem", GetBody("role-1"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("from-sts"), std::string::npos) << r.body;
}

TEST_F(MotoSigv4Test, WrongSecretIsRejectedWithSignatureDoesNotMatch) {
  Credentials wrong = user_;
  wrong.secret_access_key[0] = wrong.secret_access_key[0] == 'A' ? 'B' : 'A';
  HttpResult r = Call(wrong, "ListTables", "{}");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find("SignatureDoesNotMatch"), std::string::npos) << r.body;

  Credentials wrong_role = role_;
  wrong_role.secret_access_key += "x";
  r = Call(wrong_role, "ListTables", "{}");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find("SignatureDoesNotMatch"), std::string::npos) << r.body;
}

TEST_F(MotoSigv4Test, TamperedBodyIsRejectedAndNotApplied) {
  HttpResult r = Call(user_, "PutItem", PutBody("tamper-1", "signed"),
                      [](std::vector<Header>*, std::string* body) {
                        body->replace(body->find("signed"), 6, "SIGNED");  // same length
                      });
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find("SignatureDoesNotMatch"), std::string::npos) << r.body;
  r = Call(user_, "GetItem", GetBody("tamper-1"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.find("SIGNED"), std::string::npos) << "tampered write was applied: " << r.body;
}

TEST_F(MotoSigv4Test, TamperedHeaderIsRejected) {
  HttpResult r = Call(user_, "ListTables", "{}", [](std::vector<Header>* headers, std::string*) {
    for (Header& h : *headers) {
      if (h.name == "X-Amz-Target") h.value = "DynamoDB_20120810.DescribeLimits";
    }
  });
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find("SignatureDoesNotMatch"), std::string::npos) << r.body;

  // A signed X-Amz-Date changed after signing.
  r = Call(user_, "ListTables", "{}", [](std::vector<Header>* headers, std::string*) {
    for (Header& h : *headers) {
      if (h.name == "X-Amz-Date") h.value[h.value.size() - 2] ^= 1;
    }
  });
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find("SignatureDoesNotMatch"), std::string::npos) << r.body;
}

TEST_F(MotoSigv4Test, UnknownAccessKeyIsRejected) {
  Credentials unknown{"AKIAUNKNOWNKEY000000", "secret", ""};
  HttpResult r = Call(unknown, "ListTables", "{}");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find("InvalidClientTokenId"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace accel::sigv4
