// The one byte hash of the project: 64-bit FNV-1a. Stable across runs,
// machines and builds, so it can go into files and be compared between ranks.
#pragma once

#include <cstdint>
#include <string_view>

namespace han {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;

// Continues `hash` over `bytes`; start from kFnvOffset.
inline uint64_t fnv1a(std::string_view bytes, uint64_t hash = kFnvOffset) {
  for (unsigned char c : bytes) hash = (hash ^ c) * 0x100000001b3ULL;
  return hash;
}

// FNV-1a's low bits mix poorly; this final step (MurmurHash3's) spreads
// them, for hash tables that pick a slot by the low bits.
inline uint64_t mix_bits(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  return h ^ (h >> 33);
}

}  // namespace han
