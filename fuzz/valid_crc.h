// For the fuzz targets of checksummed files: the checksum would stop almost
// every mutation at the door, so each input is also tried with its trailing
// CRC-32 recomputed, which lets the fuzzer reach the parsing behind it.
#pragma once

#include <cstdint>
#include <string>

#include "han/base/bytes.h"

inline std::string with_valid_crc(std::string bytes) {
  if (bytes.size() < 16) return bytes;
  bytes.resize(bytes.size() - 4);
  han::bytes::put<uint32_t>(bytes, han::bytes::crc32_of(bytes.data(), bytes.size()));
  return bytes;
}
