// CRC-32C (Castagnoli), as used by iSCSI, ext4 and leveldb: the checksum of
// batch files and link frames. Hardware-accelerated where the CPU has SSE4.2.
#ifndef ACCEL_COMMON_CRC32C_H_
#define ACCEL_COMMON_CRC32C_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace accel {
namespace crc32c {

// CRC of data[0,n) continuing from a previous `crc` (0 to start).
uint32_t Extend(uint32_t crc, const void* data, size_t n);
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) { return Extend(0, s.data(), s.size()); }

}  // namespace crc32c
}  // namespace accel

#endif  // ACCEL_COMMON_CRC32C_H_
