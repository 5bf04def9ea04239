// Elementwise math written so that GCC vectorises it, and the attribute that
// compiles a function for AVX-512 and AVX2 beside the portable baseline,
// picked at load time: a portable binary still runs wide vectors.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(HAN_NO_TARGET_CLONES)
#define HAN_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HAN_VECTOR_CLONES
#endif

// Always inlined: a call inside a loop would stop it from vectorising.
#if defined(__GNUC__)
#define HAN_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define HAN_ALWAYS_INLINE inline
#endif

// For loops where threads update shared floats without locks on purpose
// (Hogwild, as word2vec and fastText train): ThreadSanitizer leaves them out.
#if defined(__GNUC__)
#define HAN_RACY_BY_DESIGN __attribute__((no_sanitize("thread")))
#else
#define HAN_RACY_BY_DESIGN
#endif

namespace han {

// exp(x) in float, relative error under 2e-7 over [-87, 88] (Cephes' expf
// polynomial): x = n ln2 + r with |r| <= ln2/2, exp(r) by a degree-6
// polynomial, 2^n put straight into the exponent bits. No library call and
// no branch (rounding by adding 1.5 * 2^23), so loops over it vectorise;
// glibc's expf and tanhf do not.
HAN_ALWAYS_INLINE float fast_exp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float shifted = x * 1.44269504088896341f + kRound;
  const float nf = shifted - kRound;
  int32_t shifted_bits;
  std::memcpy(&shifted_bits, &shifted, sizeof(shifted_bits));
  const int32_t n = shifted_bits - 0x4B400000;                  // the integer nf, from the mantissa
  const float r = x - nf * 0.693359375f + nf * 2.12194440e-4f;  // ln2 in two parts, for precision
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r2 + r + 1.0f;
  const int32_t bits = (n + 127) << 23;
  float power;
  std::memcpy(&power, &bits, sizeof(power));
  return e * power;
}

HAN_ALWAYS_INLINE float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

// tanh(x) = 2 sigmoid(2x) - 1: absolute error under 3e-7.
HAN_ALWAYS_INLINE float fast_tanh(float x) { return 2.0f / (1.0f + fast_exp(-2.0f * x)) - 1.0f; }

}  // namespace han
