// Byte and bit primitives of the batch codec (docs/batch-format.md, "Primitives"):
// little-endian fixed-width integers, LEB128 varints, zigzag, and an LSB-first
// bit stream with unary and raw fields. Internal to common/; header-only so the
// codec's inner loops inline.
//
// Readers never read outside their span. BitReader feeds zero bits past the end
// and counts them, so a hot loop needs no bounds branch per field: callers ask
// Overrun() at block boundaries and report truncation there.
#ifndef ACCEL_COMMON_BIT_IO_H_
#define ACCEL_COMMON_BIT_IO_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace accel {
namespace bitio {

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t u) { return static_cast<int64_t>((u >> 1) ^ (0 - (u & 1))); }
// Number of significant bits (0 for 0).
inline int BitLength(uint64_t v) { return v == 0 ? 0 : 64 - __builtin_clzll(v); }

inline void PutFixed32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 4);
}
inline void PutFixed64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}
inline uint32_t LoadFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}
inline uint64_t LoadFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}
inline void PutVarint(std::string* out, uint64_t v) {
  char b[10];
  int n = 0;
  while (v >= 0x80) {
    b[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  b[n++] = static_cast<char>(v);
  out->append(b, n);
}
inline int VarintLength(uint64_t v) {
  int n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Sequential reader over a byte span that knows its absolute file offset, so
// errors can name it.
class ByteReader {
 public:
  ByteReader(std::string_view data, size_t base_offset) : data_(data), base_(base_offset) {}
  size_t offset() const { return base_ + pos_; }  // absolute offset of the next byte
  size_t remaining() const { return data_.size() - pos_; }
  std::string_view rest() const { return data_.substr(pos_); }
  void Skip(size_t n) { pos_ += n; }

  enum class VarintError { kOk, kTruncated, kOverflow };
  // LEB128, at most 10 bytes and at most 64 significant bits.
  VarintError GetVarint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0, i = 0; i < 10; ++i, shift += 7) {
      if (pos_ >= data_.size()) return VarintError::kTruncated;
      uint64_t byte = static_cast<uint8_t>(data_[pos_++]);
      if (i == 9 && byte > 1) return VarintError::kOverflow;
      result |= (byte & 0x7F) << shift;
      if (byte < 0x80) {
        *v = result;
        return VarintError::kOk;
      }
    }
    return VarintError::kOverflow;
  }
  bool GetByte(uint8_t* v) {
    if (pos_ >= data_.size()) return false;
    *v = static_cast<uint8_t>(data_[pos_++]);
    return true;
  }

 private:
  std::string_view data_;
  size_t base_;
  size_t pos_ = 0;
};

// LSB-first bit writer: bit i of the stream is bit (i % 8) of byte i / 8.
// Appends to *out, which nobody else may touch until Finish().
//
// Put() has no branch: it stores the whole 64-bit accumulator at the write
// position and advances by the completed bytes. So before a burst of writes
// the caller reserves room for it (Reserve), and the writer keeps 8 bytes of
// slack beyond that.
class BitWriter {
 public:
  // `expected_bytes` sizes the first allocation; the writer grows as needed.
  explicit BitWriter(std::string* out, size_t expected_bytes = 256) : out_(out) {
    const size_t at = out->size();
    out->resize(at + expected_bytes + 16);
    p_ = &(*out)[at];
    end_ = out->data() + out->size();
  }
  // Writes *out from its start over whatever it holds, growing it only when
  // it is shorter than `expected_bytes` (+ slack): a buffer kept from one use
  // to the next is not zero-filled again (every byte the stream covers is
  // stored whole). Finish(), or Close() to keep the buffer's size.
  struct Reuse {};
  BitWriter(std::string* out, size_t expected_bytes, Reuse) : out_(out) {
    if (out->size() < expected_bytes + 16) out->resize(expected_bytes + 16);
    p_ = out->data();
    end_ = out->data() + out->size();
  }
  // Makes room for `bytes` more bytes of output.
  void Reserve(size_t bytes) {
    if (static_cast<size_t>(end_ - p_) < bytes + 8) Grow(bytes);
  }
  // Appends the low `n` bits of `v` (n <= 56, v < 2^n). Needs reserved room.
  __attribute__((always_inline)) void Put(uint64_t v, int n) { Append(&p_, &acc_, &nacc_, v, n); }

  // The writer's state in local variables for a hot loop: the stores through
  // char* would otherwise make the compiler reload members after each one.
  // Nothing else may use the writer while a Burst lives.
  class Burst {
   public:
    explicit Burst(BitWriter* w)
        : w_(w), p_(w->p_), end_(w->end_), acc_(w->acc_), nacc_(w->nacc_) {}
    ~Burst() { Sync(); }
    Burst(const Burst&) = delete;
    Burst& operator=(const Burst&) = delete;
    // Makes room for `bytes` more bytes of output.
    __attribute__((always_inline)) void Reserve(size_t bytes) {
      if (static_cast<size_t>(end_ - p_) < bytes + 8) {
        Sync();
        w_->Grow(bytes);
        p_ = w_->p_;
        end_ = w_->end_;
      }
    }
    // As BitWriter::Put (n <= 56, v < 2^n, room reserved).
    __attribute__((always_inline)) void Put(uint64_t v, int n) { Append(&p_, &acc_, &nacc_, v, n); }
    // A field of n bits that starts `skip` zero bits later: v << skip in
    // one append (skip + n <= 56).
    __attribute__((always_inline)) void PutShifted(uint64_t v, int skip, int n) {
      acc_ |= v << (skip + nacc_);
      nacc_ += skip + n;
      Store64(p_, acc_);
      p_ += nacc_ >> 3;
      acc_ >>= nacc_ & ~7;
      nacc_ &= 7;
    }
    // Any width up to 64 (room reserved).
    void PutWide(uint64_t v, int n) {
      if (n > 32) {
        Put(v & 0xFFFFFFFFu, 32);
        Put(v >> 32, n - 32);
      } else {
        Put(v, n);
      }
    }
    // q zero bits then a one bit; reserves its own room.
    void PutUnary(uint64_t q) {
      Reserve(q / 8 + 8);
      while (q >= 48) {
        Put(0, 48);
        q -= 48;
      }
      Put(uint64_t{1} << q, static_cast<int>(q) + 1);
    }

   private:
    void Sync() {
      w_->p_ = p_;
      w_->acc_ = acc_;
      w_->nacc_ = nacc_;
    }
    BitWriter* w_;
    char* p_;
    char* end_;
    uint64_t acc_;
    int nacc_;
  };
  // Any width up to 64. Needs reserved room.
  void PutWide(uint64_t v, int n) {
    if (n > 32) {
      Put(v & 0xFFFFFFFFu, 32);
      Put(v >> 32, n - 32);
    } else {
      Put(v, n);
    }
  }
  // q zero bits then a one bit. Reserves its own room.
  void PutUnary(uint64_t q) {
    Reserve(q / 8 + 8);
    while (q >= 48) {
      Put(0, 48);
      q -= 48;
    }
    Put(uint64_t{1} << q, static_cast<int>(q) + 1);
  }
  // Pads with zero bits to a byte boundary, flushes and trims *out.
  void Finish() { out_->resize(Close()); }
  // Pads with zero bits to a byte boundary and returns the size of the
  // written part of *out (which keeps its size).
  size_t Close() {
    // The bits of a partial byte are already stored at p_.
    if (nacc_ > 0) ++p_;
    acc_ = 0;
    nacc_ = 0;
    return static_cast<size_t>(p_ - out_->data());
  }

 private:
  __attribute__((always_inline)) static void Append(char** p, uint64_t* acc, int* nacc, uint64_t v,
                                                    int n) {
    *acc |= v << *nacc;
    *nacc += n;
    Store64(*p, *acc);
    *p += *nacc >> 3;
    *acc >>= *nacc & ~7;
    *nacc &= 7;
  }
  __attribute__((always_inline)) static void Store64(char* p, uint64_t v) {
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    std::memcpy(p, &v, 8);
  }
  void Grow(size_t bytes) {
    const size_t pos = static_cast<size_t>(p_ - out_->data());
    out_->resize(out_->size() * 2 + bytes + 64);
    p_ = &(*out_)[pos];
    end_ = out_->data() + out_->size();
  }
  std::string* out_;
  char* p_;
  char* end_;
  uint64_t acc_ = 0;  // bits not yet in a completed byte (fewer than 8 between calls)
  int nacc_ = 0;
};

// LSB-first bit reader over a span. Past the end it delivers zero bits and
// counts them; Overrun() tells whether any consumed bit lay beyond the span.
class BitReader {
 public:
  BitReader(const char* begin, const char* end) : p_(begin), begin_(begin), end_(end) { Refill(); }

  // Ensures at least 56 bits are buffered.
  void Refill() {
    if (end_ - p_ >= 8) {
      uint64_t w;
      std::memcpy(&w, p_, 8);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
      w = __builtin_bswap64(w);
#endif
      buf_ |= w << nbits_;
      p_ += (63 - nbits_) >> 3;
      nbits_ |= 56;
    } else {
      while (nbits_ <= 56) {
        uint64_t byte = 0;
        if (p_ < end_) {
          byte = static_cast<uint8_t>(*p_++);
        } else {
          ++zero_bytes_;
        }
        buf_ |= byte << nbits_;
        nbits_ += 8;
      }
    }
  }
  // Low `n` bits of the buffer (n <= 56 after Refill()).
  uint64_t Peek() const { return buf_; }
  void Consume(int n) {
    buf_ = n >= 64 ? 0 : buf_ >> n;
    nbits_ -= n;
  }
  // Reads n <= 56 bits; the caller has refilled.
  uint64_t Take(int n) {
    uint64_t v = n == 0 ? 0 : (buf_ & (~uint64_t{0} >> (64 - n)));
    Consume(n);
    return v;
  }
  // Reads any width up to 64, refilling as needed.
  uint64_t TakeWide(int n) {
    Refill();
    if (n <= 32) return Take(n);
    uint64_t lo = Take(32);
    Refill();
    return lo | (Take(n - 32) << 32);
  }
  int buffered() const { return nbits_; }
  // Bytes of the span not yet loaded into the buffer.
  size_t unread_bytes() const { return static_cast<size_t>(end_ - p_); }

  // The reader's state in local variables for a hot loop (stores of the
  // decoded values would otherwise make the compiler reload members after
  // each one), as a bit position: Peek() loads the 8 bytes holding the next
  // bit and shifts it down, so at least 57 bits are ready, without a buffer
  // to refill or an end check: usable while ahead() >= 8. The reader must
  // not have run past its span.
  class Burst {
   public:
    explicit Burst(BitReader* r)
        : r_(r),
          begin_(r->begin_),
          end_(r->end_),
          pos_(static_cast<uint64_t>(r->p_ - r->begin_) * 8 - static_cast<uint64_t>(r->nbits_)) {}
    ~Burst() {
      // Back to the buffered form: the whole bytes, then the bits of a partial one.
      r_->p_ = begin_ + (pos_ >> 3);
      r_->buf_ = 0;
      r_->nbits_ = 0;
      r_->Refill();
      r_->Consume(static_cast<int>(pos_ & 7));
    }
    Burst(const Burst&) = delete;
    Burst& operator=(const Burst&) = delete;
    // The next 57 (or more) bits, the next one in bit 0.
    __attribute__((always_inline)) uint64_t Peek() const {
      uint64_t w;
      std::memcpy(&w, begin_ + (pos_ >> 3), 8);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
      w = __builtin_bswap64(w);
#endif
      return w >> (pos_ & 7);
    }
    __attribute__((always_inline)) void Consume(uint64_t n) { pos_ += n; }
    // n <= 64 bits as a value.
    __attribute__((always_inline)) uint64_t Take(int n) {
      uint64_t v;
      if (n <= 56) {
        v = n == 0 ? 0 : Peek() & (~uint64_t{0} >> (64 - n));
        Consume(n);
      } else {
        v = Peek() & 0xFFFFFFFFu;
        Consume(32);
        v |= (Peek() & (~uint64_t{0} >> (96 - n))) << 32;
        Consume(n - 32);
      }
      return v;
    }
    // Bytes from the byte holding the next bit to the span's end.
    __attribute__((always_inline)) size_t ahead() const {
      return static_cast<size_t>(end_ - (begin_ + (pos_ >> 3)));
    }
    // Bits consumed from the start of the span, for error messages.
    __attribute__((always_inline)) uint64_t consumed_bits() const { return pos_; }
    // The position as a bit index from span_begin(), for a loop that reads
    // 8-byte windows itself and hands the position back.
    __attribute__((always_inline)) const char* span_begin() const { return begin_; }
    __attribute__((always_inline)) void set_consumed_bits(uint64_t pos) { pos_ = pos; }

   private:
    BitReader* r_;
    const char* begin_;
    const char* end_;
    uint64_t pos_;
  };
  // Bits consumed from the start of the span.
  uint64_t consumed_bits() const {
    return (static_cast<uint64_t>(p_ - begin_) + zero_bytes_) * 8 - static_cast<uint64_t>(nbits_);
  }
  uint64_t total_bits() const { return static_cast<uint64_t>(end_ - begin_) * 8; }
  bool Overrun() const { return consumed_bits() > total_bits(); }

 private:
  const char* p_;
  const char* begin_;
  const char* end_;
  uint64_t buf_ = 0;
  int nbits_ = 0;
  uint64_t zero_bytes_ = 0;
};

}  // namespace bitio
}  // namespace accel

#endif  // ACCEL_COMMON_BIT_IO_H_
