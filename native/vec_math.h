// Element-wise helpers for the fused CPU kernels (softmax_rows.cc, swiglu.cc): plain inline
// functions a loop over them vectorises, so that one pass over a tensor does what ATen does in
// several. GR2_CLONES builds a kernel three times (x86-64-v4: AVX-512; x86-64-v3: AVX2 with
// FMA; the baseline) and the loader picks the one this CPU runs (GCC's target_clones): the addon
// stays portable. The levels are resolved from the CPU's features and bring FMA with them
// ("avx2" or "avx512f" alone leave multiply-adds unfused; "arch=haswell" is resolved from the CPU
// *model*, and an AMD core with AVX2 got the baseline: the tiled attention ran 10× slower). binding.gyp
// passes -fopenmp (the `omp simd` reductions, and at::parallel_for, which ATen's OpenMP build
// runs serially in a file compiled without it; the GOMP symbols bind to the libgomp libtorch
// loads, so there is one OpenMP runtime) and -fno-trapping-math (without it GCC will
// not turn a float comparison into a vector select, and a loop with one stays scalar: the fused
// SwiGLU ran 8× slower than ATen's composition that way). Bit casts use __builtin_bit_cast:
// a memcpy through a local also blocks vectorisation.
#pragma once

#include <cstdint>
#include <limits>

namespace gr2 {

#define GR2_INLINE inline __attribute__((always_inline))
#define GR2_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// e^x for x ≤ 0 (arguments below −87 give e^−87 ≈ 1.6e−38, as good as 0 beside the row max's 1).
GR2_INLINE float expNonPositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  // x = k·ln2 + f, |f| ≤ ln2/2; rounding by the 1.5·2^23 trick (no libm call, vectorises).
  float k = x * 1.44269504088896341f;
  k = (k + 12582912.0f) - 12582912.0f;
  const float f = (x - k * 0.693145751953125f) - k * 1.428606765330187e-06f;
  float p = 1.0f / 5040.0f;
  p = p * f + 1.0f / 720.0f;
  p = p * f + 1.0f / 120.0f;
  p = p * f + 1.0f / 24.0f;
  p = p * f + 1.0f / 6.0f;
  p = p * f + 0.5f;
  p = p * f + 1.0f;
  p = p * f + 1.0f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;  // 2^k, k ∈ [−126, 0]
  return p * __builtin_bit_cast(float, bits);
}

// The scores' element types: float, or bf16 as its 16 high bits (round to nearest even, as c10).
GR2_INLINE float load(float x) { return x; }
GR2_INLINE float load(uint16_t x) {
  return __builtin_bit_cast(float, static_cast<uint32_t>(x) << 16);
}
GR2_INLINE void store(float* dst, float x) { *dst = x; }
GR2_INLINE void store(uint16_t* dst, float x) {
  uint32_t u = __builtin_bit_cast(uint32_t, x);
  // A quiet NaN stays a NaN (the carry cannot reach the exponent): no branch, so the loop vectorises.
  u += 0x7FFFu + ((u >> 16) & 1u);
  *dst = static_cast<uint16_t>(u >> 16);
}

}  // namespace gr2
