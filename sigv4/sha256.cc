// Must come before any OpenSSL header: this file deliberately uses the SHA256_* API (see sha256.h).
#ifndef OPENSSL_SUPPRESS_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#endif
#include "sigv4/sha256.h"

#include <openssl/crypto.h>
#include <openssl/opensslconf.h>

#include <cstring>
#include <new>
#include <stdexcept>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#if defined(OPENSSL_NO_DEPRECATED_3_0) && !defined(ACCEL_SIGV4_FORCE_EVP)
#define ACCEL_SIGV4_FORCE_EVP 1
#endif
#if defined(ACCEL_SIGV4_FORCE_EVP)
#include <openssl/evp.h>
#else
#include <openssl/sha.h>
#endif

namespace accel::sigv4 {

#if defined(ACCEL_SIGV4_FORCE_EVP)

namespace {
// Fetched once for the process; EVP_MD_fetch is thread-safe and the result is immutable.
const EVP_MD* Sha256Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) throw std::runtime_error("sigv4: OpenSSL has no SHA256 digest");
  return md;
}
}  // namespace

#define ctx_ static_cast<EVP_MD_CTX*>(evp_)
#define other_ctx_ static_cast<EVP_MD_CTX*>(other.evp_)

Sha256::Sha256() {
  evp_ = EVP_MD_CTX_new();
  if (evp_ == nullptr) throw std::bad_alloc();
  Init();
}
Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }
void Sha256::Init() {
  if (EVP_DigestInit_ex2(ctx_, Sha256Md(), nullptr) != 1)
    throw std::runtime_error("sigv4: EVP_DigestInit_ex2 failed");
}
void Sha256::Update(const void* data, size_t n) {
  if (n != 0 && EVP_DigestUpdate(ctx_, data, n) != 1)
    throw std::runtime_error("sigv4: EVP_DigestUpdate failed");
}
void Sha256::Final(uint8_t out[kSha256Size]) {
  unsigned len = 0;
  if (EVP_DigestFinal_ex(ctx_, out, &len) != 1 || len != kSha256Size)
    throw std::runtime_error("sigv4: EVP_DigestFinal_ex failed");
}
void Sha256::CopyFrom(const Sha256& other) {
  if (EVP_MD_CTX_copy_ex(ctx_, other_ctx_) != 1)
    throw std::runtime_error("sigv4: EVP_MD_CTX_copy_ex failed");
}
const char* Sha256::Backend() { return "openssl-evp"; }
#undef ctx_
#undef other_ctx_

#else

static_assert(sizeof(SHA256_CTX) <= 128, "Sha256::state_ is too small for SHA256_CTX");
static_assert(alignof(SHA256_CTX) <= 16, "Sha256::state_ is under-aligned for SHA256_CTX");
#define ctx_ reinterpret_cast<SHA256_CTX*>(state_)

Sha256::Sha256() { Init(); }
Sha256::~Sha256() { OPENSSL_cleanse(state_, sizeof(state_)); }
void Sha256::Init() { SHA256_Init(ctx_); }
void Sha256::Update(const void* data, size_t n) { SHA256_Update(ctx_, data, n); }
void Sha256::Final(uint8_t out[kSha256Size]) { SHA256_Final(out, ctx_); }
void Sha256::CopyFrom(const Sha256& other) {
  std::memcpy(state_, other.state_, sizeof(SHA256_CTX));
}
#undef ctx_
const char* Sha256::Backend() { return "openssl-sha256-ctx"; }

#endif

void Sha256PrefixCache::Run(const Sha256* start, std::string_view msg, size_t stable,
                            Sha256* work) {
  const size_t kept = prefix_.size();
  if (kept != 0 && msg.size() >= kept && std::memcmp(msg.data(), prefix_.data(), kept) == 0) {
    work->CopyFrom(mid_);
    work->Update(msg.data() + kept, msg.size() - kept);
    ++hits_;
    return;
  }
  if (start != nullptr) {
    work->CopyFrom(*start);
  } else {
    work->Init();
  }
  constexpr size_t kBlock = 64;
  const size_t keep = (stable < msg.size() ? stable : msg.size()) / kBlock * kBlock;
  prefix_.assign(msg.data(), keep);  // capacity is kept: no allocation once warmed up
  if (keep != 0) {
    work->Update(msg.data(), keep);
    mid_.CopyFrom(*work);
  }
  work->Update(msg.data() + keep, msg.size() - keep);
}

void Sha256PrefixCache::Invalidate() {
  prefix_.clear();
  mid_.Init();  // the kept state may be derived from a key
}

void HmacSha256::SetKey(const void* key, size_t n) {
  cache_.Invalidate();
  // RFC 2104: keys longer than the block are hashed first; then zero-padded to the block size.
  constexpr size_t kBlock = 64;
  uint8_t k[kBlock] = {};
  if (n > kBlock) {
    work_.Init();
    work_.Update(key, n);
    work_.Final(k);
  } else if (n > 0) {
    std::memcpy(k, key, n);
  }
  uint8_t pad[kBlock];
  for (size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x36;
  inner_.Init();
  inner_.Update(pad, kBlock);
  for (size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x5c;
  outer_.Init();
  outer_.Update(pad, kBlock);
  OPENSSL_cleanse(k, sizeof(k));
  OPENSSL_cleanse(pad, sizeof(pad));
}

void HmacSha256::Finish(uint8_t out[kSha256Size]) {
  uint8_t inner_digest[kSha256Size];
  work_.Final(inner_digest);
  work_.CopyFrom(outer_);
  work_.Update(inner_digest, kSha256Size);
  work_.Final(out);
}

void HmacSha256::Mac(const void* msg, size_t n, uint8_t out[kSha256Size]) {
  work_.CopyFrom(inner_);
  work_.Update(msg, n);
  Finish(out);
}

void HmacSha256::MacResuming(std::string_view msg, size_t stable, uint8_t out[kSha256Size]) {
  cache_.Run(&inner_, msg, stable, &work_);
  Finish(out);
}

void HmacSha256::Clear() {
  uint8_t zero = 0;
  SetKey(&zero, 0);
}

void HmacSha256Once(const void* key, size_t key_len, std::string_view msg,
                    uint8_t out[kSha256Size]) {
  HmacSha256 h;
  h.SetKey(key, key_len);
  h.Mac(msg, out);
  h.Clear();
}

namespace {
// "000102...ff": two output characters per input byte with one load.
struct HexPairs {
  char pairs[512];
  constexpr HexPairs() : pairs() {
    const char* digits = "0123456789abcdef";
    for (int i = 0; i < 256; ++i) {
      pairs[2 * i] = digits[i >> 4];
      pairs[2 * i + 1] = digits[i & 0xf];
    }
  }
};
constexpr HexPairs kHexPairs;
}  // namespace

void HexEncode(const uint8_t* in, size_t n, char* out) {
  size_t i = 0;
#if defined(__SSE2__)
  // 16 bytes per step (a signature encodes three 32-byte digests): split into nibbles, interleave
  // high/low, and map 0..9 -> '0'..'9', 10..15 -> 'a'..'f' by adding '0' and, above 9, 39 more.
  const __m128i low_nibble = _mm_set1_epi8(0x0f);
  const __m128i nine = _mm_set1_epi8(9);
  const __m128i zero_char = _mm_set1_epi8('0');
  const __m128i letter_gap = _mm_set1_epi8('a' - '0' - 10);
  auto to_ascii = [&](__m128i x) {
    const __m128i above_nine = _mm_cmpgt_epi8(x, nine);
    return _mm_add_epi8(_mm_add_epi8(x, zero_char), _mm_and_si128(above_nine, letter_gap));
  };
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), low_nibble);
    const __m128i lo = _mm_and_si128(v, low_nibble);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i), to_ascii(_mm_unpacklo_epi8(hi, lo)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i + 16),
                     to_ascii(_mm_unpackhi_epi8(hi, lo)));
  }
#endif
  for (; i < n; ++i) std::memcpy(out + 2 * i, kHexPairs.pairs + 2 * in[i], 2);
}

}  // namespace accel::sigv4
