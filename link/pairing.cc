#include "link/pairing.h"

#include <errno.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <cstdio>

#include "common/env.h"
#include "common/log.h"
#include "link/protocol.h"

namespace accel {
namespace link {

namespace {
int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<std::string> CreatePairingSecret(const std::string& path) {
  Env* env = Env::Default();
  if (env->FileExists(path))
    return Status::InvalidArgument(path + ": a pairing secret already exists; remove it first");
  std::string key(kPskBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&key[0]), static_cast<int>(key.size())) != 1)
    return Status::IOError("RAND_bytes failed: " + DrainOpenSslErrors());
  std::string hex;
  static const char kDigits[] = "0123456789abcdef";
  for (unsigned char c : key) {
    hex.push_back(kDigits[c >> 4]);
    hex.push_back(kDigits[c & 15]);
  }
  hex.push_back('\n');
  ACCEL_RETURN_IF_ERROR(WriteFileAtomically(env, path, hex, 0600));
  return key;
}

Result<std::string> LoadPairingSecret(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::NotFound(path + ": no pairing secret");
    return Status::FromErrno("stat " + path, errno);
  }
  if ((st.st_mode & 077) != 0) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::PermissionDenied(path + ": pairing secret is accessible by group/others (mode " +
                                    mode + "); chmod 600 it");
  }
  std::string text;
  ACCEL_RETURN_IF_ERROR(Env::Default()->ReadFile(path, &text, 4096));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.size() != 2 * kPskBytes)
    return Status::Corruption(path + ": offset 0: expected " + std::to_string(2 * kPskBytes) +
                              " hex digits, found " + std::to_string(text.size()) + " bytes");
  std::string key(kPskBytes, '\0');
  for (size_t i = 0; i < kPskBytes; ++i) {
    int hi = HexVal(text[2 * i]), lo = HexVal(text[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return Status::Corruption(path + ": offset " + std::to_string(2 * i + (hi < 0 ? 0 : 1)) +
                                ": not a hex digit");
    key[i] = static_cast<char>((hi << 4) | lo);
  }
  return key;
}

PskLookup PskDirectory(const std::string& dir) {
  return [dir](const std::string& device_id) -> std::optional<std::string> {
    if (!ValidateDeviceId(device_id).ok()) return std::nullopt;
    Result<std::string> key = LoadPairingSecret(JoinPath(dir, device_id + ".key"));
    if (!key.ok()) {
      LogWarn("link: device '" + device_id + "' is not paired: " + key.status().ToString());
      return std::nullopt;
    }
    return std::move(key).value();
  };
}

}  // namespace link
}  // namespace accel
