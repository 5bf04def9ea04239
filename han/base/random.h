// splitmix64: tiny, fast, and good enough for sampling. Seeded per document,
// it gives dropout masks that do not depend on thread timing or ranks.
#pragma once

#include <cstdint>

namespace han {

struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }  // [0, 1)
  uint64_t below(uint64_t n) { return next() % n; }
};

}  // namespace han
