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
#include <string>
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

// Resumes SHA-256 after a prefix shared with the previous message. The signer hashes messages that
// repeat their first kilobyte (the canonical request carries the ~900-character session token
// before the payload hash, which is all that changes between two signatures in the same second).
// Keeps the hash state after the previous message's leading whole 64-byte blocks together with the
// bytes those blocks covered; a message that begins with exactly those bytes (memcmp, so the reuse
// is exact, never a guess) resumes from the kept state instead of hashing them again.
class Sha256PrefixCache {
 public:
  Sha256PrefixCache() = default;
  Sha256PrefixCache(const Sha256PrefixCache&) = delete;
  Sha256PrefixCache& operator=(const Sha256PrefixCache&) = delete;

  // Leaves in *work the state of `start` (a fresh SHA-256 when null) followed by all of msg, not
  // finalised. `stable` (<= msg.size()): how many leading bytes of msg are expected to repeat in
  // the next message; only whole blocks of those are kept. `start` must be the same state on
  // every call until Invalidate().
  void Run(const Sha256* start, std::string_view msg, size_t stable, Sha256* work);
  // Forgets the kept state (the start state changed, or it is secret and must be wiped).
  void Invalidate();
  // Calls that resumed from the kept state; for tests and benchmarks.
  uint64_t hits() const { return hits_; }

 private:
  Sha256 mid_;
  std::string prefix_;  // the bytes mid_ absorbed after `start`; empty: nothing kept
  uint64_t hits_ = 0;
};

// HMAC-SHA-256 with a fixed key, kept as the inner and outer pad states so a MAC costs the
// message's compression rounds plus two more blocks, and no re-keying.
class HmacSha256 {
 public:
  HmacSha256() = default;
  void SetKey(const void* key, size_t n);
  void Mac(const void* msg, size_t n, uint8_t out[kSha256Size]);
  void Mac(std::string_view msg, uint8_t out[kSha256Size]) { Mac(msg.data(), msg.size(), out); }
  // Mac() for messages whose first `stable` bytes usually repeat from one call to the next (the
  // string to sign, within one second): resumes after them through a Sha256PrefixCache.
  void MacResuming(std::string_view msg, size_t stable, uint8_t out[kSha256Size]);
  uint64_t resumed() const { return cache_.hits(); }
  // Wipes the pad states (they are as good as the key).
  void Clear();

 private:
  void Finish(uint8_t out[kSha256Size]);  // work_ holds the inner hash state; writes the MAC
  Sha256 inner_, outer_, work_;
  Sha256PrefixCache cache_;  // after inner_: derived from the key, wiped with it
};

// One-shot HMAC for key derivation (not on the hot path: the signer caches the derived key).
void HmacSha256Once(const void* key, size_t key_len, std::string_view msg,
                    uint8_t out[kSha256Size]);

// Lower-case hex of n bytes into out (2n chars, no terminator).
void HexEncode(const uint8_t* in, size_t n, char* out);

}  // namespace accel::sigv4

#endif  // ACCEL_SIGV4_SHA256_H_
