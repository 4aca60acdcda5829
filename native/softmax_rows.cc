// Fused per-row softmax passes of the blocked attention (softmax_rows.h says why).
//
// Each pass is a plain loop the compiler vectorises (vec_math.h: exp without a libm call, bf16
// loads and stores, one build per instruction set).
#include "softmax_rows.h"
#include "vec_math.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <limits>
#include <vector>

namespace gr2 {
namespace {

// Keys row r may see: the causal limit (keys after it are masked for this row).
GR2_INLINE int64_t visibleKeys(const RowBlock& b, int64_t r) {
  if (!b.causal) return b.keys;
  const int64_t lim = b.S - b.T + b.t0 + r % b.n + 1;
  return lim < 0 ? 0 : (lim > b.keys ? b.keys : lim);
}

GR2_INLINE const bool* rowKeyMask(const RowBlock& b, int64_t r) { return b.keyMask ? b.keyMask + (r / b.rowsPerBatch) * b.S : nullptr; }

template <typename T>
GR2_INLINE void forwardRows(const RowBlock& b, const T* s, T* p, float* lse, float* buf, int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const T* sr = s + r * b.keys;
    T* pr = p + r * b.keys;
    const int64_t lim = visibleKeys(b, r);
    const bool* km = rowKeyMask(b, r);
    float m = kNegInf;
    if (km) {
      for (int64_t j = 0; j < lim; ++j) buf[j] = km[j] ? b.scale * load(sr[j]) : kNegInf;
    } else {
#pragma omp simd
      for (int64_t j = 0; j < lim; ++j) buf[j] = b.scale * load(sr[j]);
    }
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < lim; ++j) m = buf[j] > m ? buf[j] : m;
    if (m == kNegInf) {  // sees no key: attends to nothing (the composition's nan_to_num)
      for (int64_t j = 0; j < b.keys; ++j) store(pr + j, 0.0f);
      lse[b.lseIndex(r)] = kNegInf;
      continue;
    }
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < lim; ++j) {
      const float e = buf[j] == kNegInf ? 0.0f : expNonPositive(buf[j] - m);
      buf[j] = e;
      sum += e;
    }
    const float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t j = 0; j < lim; ++j) store(pr + j, buf[j] * inv);
    for (int64_t j = lim; j < b.keys; ++j) store(pr + j, 0.0f);
    lse[b.lseIndex(r)] = m + std::log(sum);
  }
}

template <typename T>
GR2_INLINE void backwardRows(const RowBlock& b, const T* s, const T* dp, const float* lse, const float* delta, T* p, T* ds, int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const int64_t off = r * b.keys;
    const int64_t lim = visibleKeys(b, r);
    const bool* km = rowKeyMask(b, r);
    const float l = lse[b.lseIndex(r)], d = delta[b.lseIndex(r)];
    const int64_t live = l == kNegInf ? 0 : lim;
    const float scale = b.scale;
    const T* __restrict sr = s + off;
    const T* __restrict dpr = dp + off;
    T* __restrict pr = p + off;
    T* __restrict dsr = ds + off;
#pragma omp simd
    for (int64_t j = 0; j < live; ++j) {
      const float pj = expNonPositive(scale * load(sr[j]) - l);
      store(pr + j, pj);
      store(dsr + j, pj * (load(dpr[j]) - d) * scale);
    }
    if (km) {  // padded keys: probability and gradient 0 (a separate pass keeps the one above branch-free)
      for (int64_t j = 0; j < live; ++j) {
        if (!km[j]) {
          store(pr + j, 0.0f);
          store(dsr + j, 0.0f);
        }
      }
    }
    for (int64_t j = live; j < b.keys; ++j) {
      store(pr + j, 0.0f);
      store(dsr + j, 0.0f);
    }
  }
}

GR2_CLONES void forwardRangeF32(const RowBlock& b, const float* s, float* p, float* lse, float* buf, int64_t begin, int64_t end) { forwardRows(b, s, p, lse, buf, begin, end); }
GR2_CLONES void forwardRangeBF16(const RowBlock& b, const uint16_t* s, uint16_t* p, float* lse, float* buf, int64_t begin, int64_t end) { forwardRows(b, s, p, lse, buf, begin, end); }
GR2_CLONES void backwardRangeF32(const RowBlock& b, const float* s, const float* dp, const float* lse, const float* delta, float* p, float* ds, int64_t begin, int64_t end) {
  backwardRows(b, s, dp, lse, delta, p, ds, begin, end);
}
GR2_CLONES void backwardRangeBF16(const RowBlock& b, const uint16_t* s, const uint16_t* dp, const float* lse, const float* delta, uint16_t* p, uint16_t* ds, int64_t begin, int64_t end) {
  backwardRows(b, s, dp, lse, delta, p, ds, begin, end);
}

// Rows per task: enough that a task is not dominated by scheduling (a row is ~100–2,000 keys).
constexpr int64_t kGrain = 16;

}  // namespace

void softmaxRowsF32(const RowBlock& b, const float* s, float* p, float* lse) {
  at::parallel_for(0, b.rows, kGrain, [&](int64_t begin, int64_t end) {
    std::vector<float> buf(b.keys);
    forwardRangeF32(b, s, p, lse, buf.data(), begin, end);
  });
}

void softmaxRowsBF16(const RowBlock& b, const uint16_t* s, uint16_t* p, float* lse) {
  at::parallel_for(0, b.rows, kGrain, [&](int64_t begin, int64_t end) {
    std::vector<float> buf(b.keys);
    forwardRangeBF16(b, s, p, lse, buf.data(), begin, end);
  });
}

void softmaxBackwardRowsF32(const RowBlock& b, const float* s, const float* dp, const float* lse, const float* delta, float* p, float* ds) {
  at::parallel_for(0, b.rows, kGrain, [&](int64_t begin, int64_t end) { backwardRangeF32(b, s, dp, lse, delta, p, ds, begin, end); });
}

void softmaxBackwardRowsBF16(const RowBlock& b, const uint16_t* s, const uint16_t* dp, const float* lse, const float* delta, uint16_t* p, uint16_t* ds) {
  at::parallel_for(0, b.rows, kGrain, [&](int64_t begin, int64_t end) { backwardRangeBF16(b, s, dp, lse, delta, p, ds, begin, end); });
}

}  // namespace gr2
