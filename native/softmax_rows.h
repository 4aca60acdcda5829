// Fused per-row passes of the blocked attention kernel (attention.cc), on raw CPU buffers.
//
// Why: for the demo model (head dim 32, ~250-token sequences) the attention's element-wise
// work dominates its matmuls. The ATen composition walks each block's [rows, keys] scores ~7
// times forward (scale, cast to float, causal mask, key mask, softmax's three passes, cast back)
// and ~12 times backward; these kernels do one read and one write per pass direction.
#pragma once

#include <cstdint>

namespace gr2 {

// One block of attention rows: `rows` rows of `keys` scores each, row-major. Row r is query
// t0 + r % n of head-group (r / n) of batch row r / rowsPerBatch; under the causal mask query t
// (absolute position S − T + t) sees keys j ≤ S − T + t; `keyMask` (bool [B, S], or null)
// removes padded keys. `lse` is the per-row log-sum-exp, indexed lseOffset(r).
struct RowBlock {
  int64_t rows, keys;         // rows = B · Hkv · G · n; keys = Sb (≤ S)
  int64_t rowsPerBatch;       // Hkv · G · n
  int64_t n, t0, T, S;        // query rows per head in this block, first query, all queries, all keys
  bool causal;
  const bool* keyMask;        // [B, S] or nullptr
  float scale;
  // lse / delta layout [B · Hkv · G, T]: row r → ((r / n) * T + t0 + r % n).
  int64_t lseIndex(int64_t r) const { return (r / n) * T + t0 + r % n; }
};

// Forward: p = softmax(scale · s) over the keys each row may see (0 elsewhere, and a whole row
// of 0 where it sees none), written as float or bf16 (uint16 bit patterns); lse[row] =
// log Σ exp(scale · s) (−inf for an empty row). `s` holds float or bf16 scores.
void softmaxRowsF32(const RowBlock& b, const float* s, float* p, float* lse);
void softmaxRowsBF16(const RowBlock& b, const uint16_t* s, uint16_t* p, float* lse);

// Backward: p = exp(scale · s − lse) (recomputed from the forward's lse), and
// ds = p ∘ (dp − delta) · scale, both in the scores' dtype.
void softmaxBackwardRowsF32(const RowBlock& b, const float* s, const float* dp, const float* lse, const float* delta, float* p, float* ds);
void softmaxBackwardRowsBF16(const RowBlock& b, const uint16_t* s, const uint16_t* dp, const float* lse, const float* delta, uint16_t* p, uint16_t* ds);

}  // namespace gr2
