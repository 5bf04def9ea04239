// Little-endian integers and CRC-32 for han's binary files (model files and
// checkpoints). Internal to the han library.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

namespace han::bytes {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "han's files store little-endian float32");

template <typename T>
void put(std::string& out, T value) {
  static_assert(std::is_integral_v<T>);
  for (size_t i = 0; i < sizeof(T); ++i) out += static_cast<char>((static_cast<uint64_t>(value) >> (8 * i)) & 0xFF);
}

// Reads a T at `offset`; the caller has checked that the bytes are there.
template <typename T>
T get(const std::string& in, size_t offset) {
  uint64_t value = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    value |= static_cast<uint64_t>(static_cast<uint8_t>(in[offset + i])) << (8 * i);
  return static_cast<T>(value);
}

// CRC-32 of bytes that follow those a running `crc` covers (0 to start).
inline uint32_t crc32_update(uint32_t crc, const char* data, size_t size) {
  uLong value = crc;
  while (size > 0) {
    const uInt piece = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    value = crc32(value, reinterpret_cast<const Bytef*>(data), piece);
    data += piece;
    size -= piece;
  }
  return static_cast<uint32_t>(value);
}

inline uint32_t crc32_of(const char* data, size_t size) { return crc32_update(0, data, size); }

}  // namespace han::bytes
