// SHA-256 and HMAC-SHA-256 on OpenSSL, shaped for a signer that runs them millions of times.
//
// Why not EVP_Digest*/EVP_MAC per call: with OpenSSL 3.0 every EVP_DigestInit_ex2 and every
// EVP_MD_CTX_copy_ex on a reused context still allocates the provider's algorithm context, and an
// implicit algorithm fetch costs ~1 us. The SHA-256 core is the same assembly either way, so by
// default this uses OpenSSL's fixed-size SHA256_CTX (deprecated in 3.0, still shipped and
// exported): contexts live in the object, an HMAC key is kept as its two pre-hashed pad states (a
// struct copy per MAC), and nothing touches the heap. Builds against an OpenSSL without the
// deprecated API (or with ACCEL_SIGV4_FORCE_EVP) fall back to EVP with a digest fetched once; that
// path is correct but allocates inside OpenSSL.
#ifndef ACCEL_SIGV4_SHA256_H_
#define ACCEL_SIGV4_SHA256_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace accel::sigv4 {

constexpr size_t kSha256Size = 32;

// Incremental SHA-256. Init() may be called again to reuse the object.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Init();
  void Update(const void* data, size_t n);
  void Final(uint8_t out[kSha256Size]);
  // Copies the running state of `other` into this object.
  void CopyFrom(const Sha256& other);

  // One-shot convenience.
  void Hash(std::string_view data, uint8_t out[kSha256Size]) {
    Init();
    Update(data.data(), data.size());
    Final(out);
  }

  // "openssl-sha256-ctx" or "openssl-evp": which backend this build uses (printed by the
  // benchmark).
  static const char* Backend();

 private:
  // Opaque so that only sha256.cc sees OpenSSL's (deprecated) SHA256_CTX: a SHA256_CTX lives in
  // state_, or, on the EVP path, an EVP_MD_CTX* in evp_.
  alignas(16) unsigned char state_[128];
  void* evp_ = nullptr;
};

// HMAC-SHA-256 with a fixed key, kept as the inner and outer pad states so a MAC costs the
// message's compression rounds plus two more blocks, and no re-keying.
class HmacSha256 {
 public:
  HmacSha256() = default;
  void SetKey(const void* key, size_t n);
  void Mac(const void* msg, size_t n, uint8_t out[kSha256Size]);
  void Mac(std::string_view msg, uint8_t out[kSha256Size]) { Mac(msg.data(), msg.size(), out); }
  // Wipes the pad states (they are as good as the key).
  void Clear();

 private:
  Sha256 inner_, outer_, work_;
};

// One-shot HMAC for key derivation (not on the hot path: the signer caches the derived key).
void HmacSha256Once(const void* key, size_t key_len, std::string_view msg,
                    uint8_t out[kSha256Size]);

// Lower-case hex of n bytes into out (2n chars, no terminator).
void HexEncode(const uint8_t* in, size_t n, char* out);

}  // namespace accel::sigv4

#endif  // ACCEL_SIGV4_SHA256_H_
