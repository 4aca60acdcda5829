// Tiled attention for float CPU tensors: flash-attention's recurrence over query *and* key tiles.
//
// Why: the blocked kernel (attention.cc) walks the queries in blocks of whole key rows through
// ATen's matmuls: its [rows, keys] blocks are 128 MB, far larger than any cache, and its score
// matmuls have an inner dimension of the head size (32 for the demo model), where a BLAS does
// poorly. On a CPU without bf16 units (AVX2) the model runs in float and this was 66% of a
// full-prompt training step (16 × 1,280 tokens, 4 layers: 2.6 s per layer forward + backward).
// Here a 64 × 64 tile of scores, its probabilities and the head's rows live in L1/L2:
//   forward   S = scale·Q Kᵀ, online softmax (running max m and sum l), O += P V, per key tile;
//   backward  (FlashAttention-2) per key tile, over the query tiles that see it:
//             P = exp(S − lse), dV += Pᵀ dO, dP = dO Vᵀ, dS = P ∘ (dP − delta),
//             dQ += scale·dS K, dK += scale·dSᵀ Q.
// Every product is one register-blocked routine (gemmAcc: C += A·B, row-major), built for
// AVX-512, AVX2+FMA and the baseline (vec_math.h's GR2_CLONES).
#include "flash_f32.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "vec_math.h"

namespace gr2 {
namespace {

constexpr int64_t kBr = 64;  // query rows per tile
constexpr int64_t kBc = 64;  // keys per tile

// Eight floats; loads and stores need no alignment. GCC lowers it to the clone's registers (one
// AVX register, two SSE registers on the baseline).
typedef float v8 __attribute__((vector_size(32), aligned(4)));

GR2_INLINE v8 ld(const float* p) { return *reinterpret_cast<const v8*>(p); }
GR2_INLINE void st(float* p, v8 x) { *reinterpret_cast<v8*>(p) = x; }

// C[M×N] += A[M×K] · B[K×N], all row-major with leading dimensions lda, ldb, ldc; with TransA,
// A is stored transposed (K×M, row-major): C += Aᵀ·B, no copy of Aᵀ needed. Four rows by
// sixteen columns at a time: eight accumulators in registers, two loads of B and four
// broadcasts of A per step of K.
template <bool TransA>
GR2_INLINE void gemmAcc(int64_t M, int64_t N, int64_t K, const float* __restrict A, int64_t lda, const float* __restrict B, int64_t ldb, float* __restrict C, int64_t ldc) {
  // A[r][kk] of the product, wherever it is stored.
  auto a = [&](int64_t r, int64_t kk) { return TransA ? A[kk * lda + r] : A[r * lda + kk]; };
  const int64_t N16 = N - N % 16;
  int64_t i = 0;
  for (; i + 4 <= M; i += 4) {
    for (int64_t j = 0; j < N16; j += 16) {
      float* c = C + i * ldc + j;
      v8 c00 = ld(c), c01 = ld(c + 8), c10 = ld(c + ldc), c11 = ld(c + ldc + 8);
      v8 c20 = ld(c + 2 * ldc), c21 = ld(c + 2 * ldc + 8), c30 = ld(c + 3 * ldc), c31 = ld(c + 3 * ldc + 8);
      const float* b = B + j;
      for (int64_t kk = 0; kk < K; kk++, b += ldb) {
        const v8 b0 = ld(b), b1 = ld(b + 8);
        const float a0 = a(i, kk), a1 = a(i + 1, kk), a2 = a(i + 2, kk), a3 = a(i + 3, kk);
        c00 += a0 * b0, c01 += a0 * b1;
        c10 += a1 * b0, c11 += a1 * b1;
        c20 += a2 * b0, c21 += a2 * b1;
        c30 += a3 * b0, c31 += a3 * b1;
      }
      st(c, c00), st(c + 8, c01), st(c + ldc, c10), st(c + ldc + 8, c11);
      st(c + 2 * ldc, c20), st(c + 2 * ldc + 8, c21), st(c + 3 * ldc, c30), st(c + 3 * ldc + 8, c31);
    }
  }
  // Edges: the last M % 4 rows, and the last N % 16 columns of every row.
  for (int64_t r = 0; r < M; r++) {
    const int64_t j0 = r < i ? N16 : 0;
    if (j0 >= N) continue;
    float* c = C + r * ldc;
    for (int64_t kk = 0; kk < K; kk++) {
      const float ar = a(r, kk);
      const float* b = B + kk * ldb;
#pragma omp simd
      for (int64_t j = j0; j < N; j++) c[j] += ar * b[j];
    }
  }
}

// dst[D × width] = the first n rows of src [·, D] transposed; columns n.. are zero.
GR2_INLINE void transposeRows(const float* src, int64_t D, int64_t n, int64_t width, float* dst) {
  for (int64_t d = 0; d < D; d++) {
    float* row = dst + d * width;
    for (int64_t c = 0; c < n; c++) row[c] = src[c * D + d];
    for (int64_t c = n; c < width; c++) row[c] = 0.f;
  }
}

// Keys j < jEnd may be seen by query row i: the causal limit, or all S.
GR2_INLINE int64_t keyEnd(const TileProblem& p, int64_t i) { return p.causal ? std::min(p.S, std::max<int64_t>(0, p.S - p.T + i + 1)) : p.S; }

// In a tile of scores (query rows [i0, i0 + br), keys [j0, j0 + bc)): row r may see columns
// c < seen(r) (the causal limit), and of those the ones the key mask keeps.
GR2_INLINE int64_t seen(const TileProblem& p, int64_t i0, int64_t j0, int64_t r, int64_t bc) { return std::max<int64_t>(0, std::min(bc, keyEnd(p, i0 + r) - j0)); }

// The key tile [j0, j0 + bc) as 0 / −inf to add to a row of scores: −inf past the tile's end and
// where the key mask (or null: none) removes a key.
GR2_INLINE void keyTile(const bool* mask, int64_t j0, int64_t bc, float* keep) {
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t c = 0; c < kBc; c++) keep[c] = c < bc && (mask == nullptr || mask[j0 + c]) ? 0.f : ninf;
}

struct Scratch {
  std::vector<float> kt, vt, s, p2, ds, acc, m, l, dk, dv, keep;
  // The forward's Kᵀ of one key/value head, [D, S rounded up to whole tiles], and which head it
  // holds: the query heads that share it run one after another on the same thread.
  std::vector<float> kAll;
  int64_t kAllHead = -1;
  explicit Scratch(int64_t D)
      : kt(D * kBc), vt(D * kBc), s(kBr * kBc), p2(kBr * kBc), ds(kBr * kBc), acc(kBr * D), m(kBr), l(kBr), dk(kBc * D), dv(kBc * D), keep(kBc) {}
};

// One query head of one batch row, forward.
GR2_CLONES void forwardHead(const TileProblem& p, int64_t b, int64_t h, const float* q, const float* k, const float* v, float* out, float* lse, Scratch& w) {
  const int64_t D = p.D, T = p.T, G = p.Hq / p.Hkv;
  const float* Q = q + (b * p.Hq + h) * T * D;
  const float* K = k + (b * p.Hkv + h / G) * p.S * D;
  const float* V = v + (b * p.Hkv + h / G) * p.S * D;
  const bool* mask = p.keyMask ? p.keyMask + b * p.S : nullptr;
  float* O = out + (b * p.Hq + h) * T * D;
  float* L = lse + (b * p.Hq + h) * T;
  const float ninf = -std::numeric_limits<float>::infinity();
  // Kᵀ once per key/value head (not once per query tile): [D, Sp], zero past S.
  const int64_t Sp = (p.S + kBc - 1) / kBc * kBc, kvHead = b * p.Hkv + h / G;
  if (w.kAllHead != kvHead) {
    w.kAll.resize(D * Sp);
    transposeRows(K, D, p.S, Sp, w.kAll.data());
    w.kAllHead = kvHead;
  }
  for (int64_t i0 = 0; i0 < T; i0 += kBr) {
    const int64_t br = std::min(kBr, T - i0);
    std::fill(w.acc.begin(), w.acc.end(), 0.f);
    std::fill(w.m.begin(), w.m.end(), ninf);
    std::fill(w.l.begin(), w.l.end(), 0.f);
    const int64_t kend = keyEnd(p, i0 + br - 1);
    for (int64_t j0 = 0; j0 < kend; j0 += kBc) {
      const int64_t bc = std::min(kBc, kend - j0);
      std::fill(w.s.begin(), w.s.begin() + br * kBc, 0.f);
      gemmAcc<false>(br, kBc, D, Q + i0 * D, D, w.kAll.data() + j0, Sp, w.s.data(), kBc);
      const float* keep = w.keep.data();
      keyTile(mask, j0, bc, w.keep.data());
      for (int64_t r = 0; r < br; r++) {
        float* s = w.s.data() + r * kBc;
        const int64_t n = seen(p, i0, j0, r, bc);
        const float scale = p.scale;
        float mx = ninf;
#pragma omp simd reduction(max : mx)
        for (int64_t c = 0; c < kBc; c++) {
          const float x = c < n ? s[c] * scale + keep[c] : ninf;
          s[c] = x;
          mx = std::max(mx, x);
        }
        const float mnew = std::max(w.m[r], mx);
        if (mnew == ninf) {  // nothing seen yet: the row's probabilities are all zero
          std::fill(s, s + kBc, 0.f);
          continue;
        }
        const float alpha = w.m[r] == ninf ? 0.f : expNonPositive(w.m[r] - mnew);
        float sum = 0.f;
#pragma omp simd reduction(+ : sum)
        for (int64_t c = 0; c < kBc; c++) {
          const float e = s[c] == ninf ? 0.f : expNonPositive(s[c] - mnew);
          s[c] = e;
          sum += e;
        }
        w.l[r] = alpha * w.l[r] + sum;
        w.m[r] = mnew;
        float* a = w.acc.data() + r * D;
        if (alpha != 1.f)
#pragma omp simd
          for (int64_t d = 0; d < D; d++) a[d] *= alpha;
      }
      gemmAcc<false>(br, D, bc, w.s.data(), kBc, V + j0 * D, D, w.acc.data(), D);
    }
    for (int64_t r = 0; r < br; r++) {
      const float l = w.l[r];
      const float inv = l > 0.f ? 1.f / l : 0.f;
#pragma omp simd
      for (int64_t d = 0; d < D; d++) O[(i0 + r) * D + d] = w.acc[r * D + d] * inv;
      L[i0 + r] = l > 0.f ? w.m[r] + std::log(l) : ninf;
    }
  }
}

// One key/value head of one batch row, backward: its dK and dV tiles gather every query head
// that shares it, so no two tasks write the same rows.
GR2_CLONES void backwardKvHead(const TileProblem& p, int64_t b, int64_t kv, const float* q, const float* k, const float* v, const float* dout, const float* lse, const float* delta, float* dq, float* dk, float* dv, Scratch& w) {
  const int64_t D = p.D, T = p.T, S = p.S, G = p.Hq / p.Hkv;
  const float* K = k + (b * p.Hkv + kv) * S * D;
  const float* V = v + (b * p.Hkv + kv) * S * D;
  float* dK = dk + (b * p.Hkv + kv) * S * D;
  float* dV = dv + (b * p.Hkv + kv) * S * D;
  const bool* mask = p.keyMask ? p.keyMask + b * S : nullptr;
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t g = 0; g < G; g++) std::fill(dq + (b * p.Hq + kv * G + g) * T * D, dq + (b * p.Hq + kv * G + g + 1) * T * D, 0.f);
  for (int64_t j0 = 0; j0 < S; j0 += kBc) {
    const int64_t bc = std::min(kBc, S - j0);
    transposeRows(K + j0 * D, D, bc, kBc, w.kt.data());
    transposeRows(V + j0 * D, D, bc, kBc, w.vt.data());
    std::fill(w.dk.begin(), w.dk.end(), 0.f);
    std::fill(w.dv.begin(), w.dv.end(), 0.f);
    const float* keep = w.keep.data();
    keyTile(mask, j0, bc, w.keep.data());
    // The first query row that sees key j0: S − T + i ≥ j0 under the causal mask.
    const int64_t iFirst = p.causal ? std::max<int64_t>(0, j0 - (S - T)) : 0;
    for (int64_t g = 0; g < G; g++) {
      const int64_t h = kv * G + g;
      const float* Q = q + (b * p.Hq + h) * T * D;
      const float* dO = dout + (b * p.Hq + h) * T * D;
      const float* Lse = lse + (b * p.Hq + h) * T;
      const float* Delta = delta + (b * p.Hq + h) * T;
      float* dQ = dq + (b * p.Hq + h) * T * D;
      for (int64_t i0 = iFirst - iFirst % kBr; i0 < T; i0 += kBr) {
        const int64_t br = std::min(kBr, T - i0);
        float* P = w.p2.data();
        float* dS = w.ds.data();
        std::fill(P, P + br * kBc, 0.f);
        std::fill(dS, dS + br * kBc, 0.f);
        gemmAcc<false>(br, kBc, D, Q + i0 * D, D, w.kt.data(), kBc, P, kBc);   // S
        gemmAcc<false>(br, kBc, D, dO + i0 * D, D, w.vt.data(), kBc, dS, kBc);  // dP
        for (int64_t r = 0; r < br; r++) {
          const float l = Lse[i0 + r], dl = Delta[i0 + r], scale = p.scale;
          const int64_t n = l == ninf ? 0 : seen(p, i0, j0, r, bc);
          float* pr = P + r * kBc;
          float* dr = dS + r * kBc;
#pragma omp simd
          for (int64_t c = 0; c < kBc; c++) {
            const float x = std::min(0.f, pr[c] * scale - l + keep[c]);
            const float e = c < n && x != ninf ? expNonPositive(x) : 0.f;
            pr[c] = e;
            dr[c] = e * (dr[c] - dl) * scale;
          }
        }
        gemmAcc<true>(bc, D, br, P, kBc, dO + i0 * D, D, w.dv.data(), D);   // dV += Pᵀ dO
        gemmAcc<true>(bc, D, br, dS, kBc, Q + i0 * D, D, w.dk.data(), D);   // dK += dSᵀ Q (scaled)
        gemmAcc<false>(br, D, bc, dS, kBc, K + j0 * D, D, dQ + i0 * D, D);  // dQ += dS K (scaled)
      }
    }
    std::memcpy(dK + j0 * D, w.dk.data(), sizeof(float) * bc * D);
    std::memcpy(dV + j0 * D, w.dv.data(), sizeof(float) * bc * D);
  }
}

}  // namespace

void tiledAttentionForwardF32(const TileProblem& p, const float* q, const float* k, const float* v, float* out, float* lse) {
  at::parallel_for(0, p.B * p.Hq, 1, [&](int64_t begin, int64_t end) {
    Scratch w(p.D);
    for (int64_t t = begin; t < end; t++) forwardHead(p, t / p.Hq, t % p.Hq, q, k, v, out, lse, w);
  });
}

void tiledAttentionBackwardF32(const TileProblem& p, const float* q, const float* k, const float* v, const float* dout, const float* lse, const float* delta, float* dq, float* dk, float* dv) {
  at::parallel_for(0, p.B * p.Hkv, 1, [&](int64_t begin, int64_t end) {
    Scratch w(p.D);
    for (int64_t t = begin; t < end; t++) backwardKvHead(p, t / p.Hkv, t % p.Hkv, q, k, v, dout, lse, delta, dq, dk, dv, w);
  });
}

}  // namespace gr2
