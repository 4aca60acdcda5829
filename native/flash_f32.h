// Tiled attention for float CPU tensors (flash_f32.cc): forward and backward over query and key
// tiles that stay in cache, for the blocked kernel's float path (attention.cc).
#pragma once

#include <cstdint>

namespace gr2 {

// The shapes and options one attention call shares between its forward and backward.
// q, out, dq: [B, Hq, T, D]; k, v, dk, dv: [B, Hkv, S, D]; lse, delta: [B, Hq, T]; all
// contiguous float. Query t (absolute position S − T + t) sees keys j ≤ S − T + t when `causal`;
// `keyMask` (bool [B, S], or null) removes padded keys.
struct TileProblem {
  int64_t B, Hq, Hkv, T, S, D;
  bool causal;
  const bool* keyMask;
  float scale;
};

// out = softmax(scale · q kᵀ) v over the keys each query may see (0 for a query that sees
// none), and lse = the per-row log-sum-exp of the scaled scores (−inf for such a query).
void tiledAttentionForwardF32(const TileProblem& p, const float* q, const float* k, const float* v, float* out, float* lse);

// The gradients from dO, the forward's lse and delta = rowsum(dO ∘ out); dq, dk, dv are
// written whole (no need to zero them).
void tiledAttentionBackwardF32(const TileProblem& p, const float* q, const float* k, const float* v, const float* dout, const float* lse, const float* delta, float* dq, float* dk, float* dv);

}  // namespace gr2
