// Scaled dot-product attention that never holds the whole [T, S] score matrix.
//
// Why: libtorch 1.13 (Debian's) has no fused attention, and the plain composition keeps every
// layer's scores, masked scores and probabilities for backward: float [B, H, T, S] each. For
// the demo's SFT batch (8 × 1,100 tokens, 8 heads, 4 layers) that is ~4 GB, and for a DAPO
// batch of 16 rollouts of 1,340 tokens ~8 GB, for a model of 4M parameters. This kernel walks
// the queries in blocks (flash-attention's recurrence, without its tiling of the keys): forward
// keeps only the output; backward recomputes a block's probabilities,
//   P = softmax(scale·QKᵀ),  dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ∘ (dP − rowsum(dO ∘ O)),
//   dQ = scale · dS K,  dK = scale · dSᵀ Q,
// so memory is O(T·D + block·S) per head instead of O(T·S); under the causal mask a block
// skips the keys after its last row (half the work of a causal square). Same arithmetic as the plain
// composition (matmuls in the inputs' dtype, softmax in float), so results agree to rounding.
// On CPU each block's softmax and its backward are one fused pass per row (softmax_rows.cc),
// with the per-row log-sum-exp saved forward so backward recomputes P in a single exp.
// (A float backward was ~1.5× slower on the demo's bf16 SFT: this CPU has bf16 matmul units.)
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <limits>
#include <string>

#include "attention.h"
#include "flash_f32.h"
#include "softmax_rows.h"

namespace gr2 {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Score elements per block (B · Hq · rows · S): 32M floats, 128 MB (8M ran 1.7× the plain
// composition's time on 2 cores: too many small matmuls).
constexpr int64_t kBlockElements = int64_t(1) << 25;

int64_t blockRows(int64_t B, int64_t Hq, int64_t T, int64_t S) {
  return std::max<int64_t>(1, std::min<int64_t>(T, kBlockElements / std::max<int64_t>(1, B * Hq * S)));
}

// Keys a block of query rows [t0, t0 + n) can see: all S, or under the causal mask only the
// first S − T + t0 + n (the later ones are masked for every row of the block, so they are
// never computed: half the work of a causal square).
int64_t blockKeys(int64_t T, int64_t S, bool causal, int64_t t0, int64_t n) {
  return causal ? std::max<int64_t>(0, std::min<int64_t>(S, S - T + t0 + n)) : S;
}

// Float scores of query rows [t0, t0 + n) against the first Sb keys: [B, Hkv, G·n, Sb], masked
// to -inf where a query may not attend. q5: [B, Hkv, G, T, D]; k: [B, Hkv, S, D]; keyMask: bool
// [B, S] (true = may attend), or empty for none (autograd's apply wants every tensor defined).
at::Tensor blockScores(const at::Tensor& q5, const at::Tensor& k, const at::Tensor& keyMask, bool causal, double scale, int64_t t0, int64_t n, int64_t Sb) {
  const int64_t B = q5.size(0), Hkv = q5.size(1), G = q5.size(2), T = q5.size(3), D = q5.size(4), S = k.size(2);
  auto qb = q5.narrow(3, t0, n).reshape({B, Hkv, G * n, D});
  auto scores = (at::matmul(qb, k.narrow(2, 0, Sb).transpose(-2, -1)) * scale).to(at::kFloat);
  const float ninf = -std::numeric_limits<float>::infinity();
  if (causal) {
    // Query t (absolute position S − T + t) may see keys j ≤ S − T + t.
    auto keys = at::arange(Sb, k.options().dtype(at::kLong));
    auto last = at::arange(S - T + t0, S - T + t0 + n, k.options().dtype(at::kLong)).unsqueeze(1);
    auto allowed = keys.unsqueeze(0).le(last);  // [n, Sb]
    allowed = allowed.unsqueeze(0).expand({G, n, Sb}).reshape({G * n, Sb});
    scores.masked_fill_(allowed.logical_not(), ninf);
  }
  if (keyMask.numel() > 0) scores.masked_fill_(keyMask.narrow(1, 0, Sb).logical_not().view({B, 1, 1, Sb}), ninf);
  return scores;
}

// A block's attention probabilities. A row that may attend to nothing (key padding, or causal
// rows before the first key) is all −inf and softmax makes it NaN: it attends to nothing instead,
// as in the plain composition.
at::Tensor blockProbs(const at::Tensor& scores, bool mayBeEmpty) {
  auto p = at::softmax(scores, -1);
  return mayBeEmpty ? at::nan_to_num(p, 0.0) : p;
}

// The fused row kernels (softmax_rows.cc) serve CPU tensors in float or bf16; other devices and
// dtypes keep the ATen composition below (GR2_ATTN_COMPOSED=1 selects it on CPU too: the peer
// in tests and benchmarks). On the demo model's training step (B 16, T 250, bf16) they cut
// one layer's attention forward from ~17 to ~11.5 ms and the whole step by ~10%.
bool fusedRows(const at::Tensor& q) { return q.device().is_cpu() && (q.scalar_type() == at::kFloat || q.scalar_type() == at::kBFloat16) && !std::getenv("GR2_ATTN_COMPOSED"); }

// Float on CPU goes to the tiled kernel (flash_f32.cc), whose tiles stay in cache: on a 2-core
// AVX2 CPU one full-prompt layer's attention forward + backward (16 × 1,280 tokens, 8 heads of
// 32) takes 1.22 s there against 2.42 s in the blocks below, at 399 MB peak against 1,481.
// bf16 keeps the blocks (a CPU with bf16 units runs their matmuls there).
// GR2_ATTN_TILED=0 selects the blocks for float too: the peer in tests and benchmarks.
bool tiledF32(const at::Tensor& q) { return fusedRows(q) && q.scalar_type() == at::kFloat && !(std::getenv("GR2_ATTN_TILED") && std::string(std::getenv("GR2_ATTN_TILED")) == "0"); }

TileProblem tileProblem(const at::Tensor& q, const at::Tensor& k, const at::Tensor& keyMask, bool causal, double scale) {
  return TileProblem{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3), causal, keyMask.numel() > 0 ? keyMask.data_ptr<bool>() : nullptr, static_cast<float>(scale)};
}

uint16_t* bf16Bits(const at::Tensor& t) { return reinterpret_cast<uint16_t*>(t.data_ptr<at::BFloat16>()); }

RowBlock rowBlock(const at::Tensor& s, const at::Tensor& keyMask, bool causal, double scale, int64_t n, int64_t t0, int64_t T, int64_t S) {
  RowBlock b;
  b.rows = s.numel() / s.size(-1);
  b.keys = s.size(-1);
  b.rowsPerBatch = b.rows / s.size(0);
  b.n = n;
  b.t0 = t0;
  b.T = T;
  b.S = S;
  b.causal = causal;
  b.keyMask = keyMask.numel() > 0 ? keyMask.data_ptr<bool>() : nullptr;
  b.scale = static_cast<float>(scale);
  return b;
}

bool mayBeEmpty(const at::Tensor& keyMask, bool causal, int64_t T, int64_t S) { return keyMask.numel() > 0 || (causal && T > S); }

struct BlockAttention : public torch::autograd::Function<BlockAttention> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& keyMask, bool causal, double scale) {
    const int64_t B = q.size(0), Hq = q.size(1), T = q.size(2), D = q.size(3), Hkv = k.size(1), S = k.size(2);
    const int64_t G = Hq / Hkv;
    if (tiledF32(q)) {
      auto out = at::empty({B, Hq, T, D}, v.options());
      auto lse = at::empty({B, Hq, T}, q.options());
      tiledAttentionForwardF32(tileProblem(q, k, keyMask, causal, scale), q.data_ptr<float>(), k.data_ptr<float>(), v.data_ptr<float>(), out.data_ptr<float>(), lse.data_ptr<float>());
      ctx->save_for_backward({q, k, v, out, keyMask, lse});
      ctx->saved_data["causal"] = causal;
      ctx->saved_data["scale"] = scale;
      ctx->saved_data["tiled"] = true;
      return out;
    }
    auto q5 = q.reshape({B, Hkv, G, T, D});
    auto out = at::empty({B, Hq, T, D}, v.options());
    auto out5 = out.view({B, Hkv, G, T, D});
    const bool fused = fusedRows(q);
    // Per-row log-sum-exp of the scaled scores, for the backward's one-pass recomputation.
    auto lse = fused ? at::empty({B, Hkv, G, T}, q.options().dtype(at::kFloat)) : at::empty({0}, q.options().dtype(at::kFloat));
    const int64_t rows = blockRows(B, Hq, T, S);
    for (int64_t t0 = 0; t0 < T; t0 += rows) {
      const int64_t n = std::min(rows, T - t0), Sb = blockKeys(T, S, causal, t0, n);
      if (Sb == 0) {  // rows before the first key (causal, T > S): they attend to nothing
        out5.narrow(3, t0, n).zero_();
        if (fused) lse.narrow(3, t0, n).fill_(-std::numeric_limits<float>::infinity());
        continue;
      }
      at::Tensor p;
      if (fused) {
        auto s = at::matmul(q5.narrow(3, t0, n).reshape({B, Hkv, G * n, D}), k.narrow(2, 0, Sb).transpose(-2, -1)).contiguous();
        p = at::empty_like(s);
        const RowBlock rb = rowBlock(s, keyMask, causal, scale, n, t0, T, S);
        if (s.scalar_type() == at::kBFloat16)
          softmaxRowsBF16(rb, bf16Bits(s), bf16Bits(p), lse.data_ptr<float>());
        else
          softmaxRowsF32(rb, s.data_ptr<float>(), p.data_ptr<float>(), lse.data_ptr<float>());
      } else {
        p = blockProbs(blockScores(q5, k, keyMask, causal, scale, t0, n, Sb), mayBeEmpty(keyMask, causal, T, S)).to(v.scalar_type());
      }
      auto o = at::matmul(p, v.narrow(2, 0, Sb));  // [B, Hkv, G·n, D]
      out5.narrow(3, t0, n).copy_(o.view({B, Hkv, G, n, D}));
    }
    ctx->save_for_backward({q, k, v, out, keyMask, lse});
    ctx->saved_data["causal"] = causal;
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &out = saved[3], &keyMask = saved[4], &lse = saved[5];
    const bool causal = ctx->saved_data["causal"].toBool();
    const double scale = ctx->saved_data["scale"].toDouble();
    const int64_t B = q.size(0), Hq = q.size(1), T = q.size(2), D = q.size(3), Hkv = k.size(1), S = k.size(2);
    const int64_t G = Hq / Hkv;
    if (ctx->saved_data.count("tiled")) {
      auto dO = grads[0].contiguous();
      auto delta = (dO * out).sum(-1).contiguous();  // rowsum(dO ∘ O): [B, Hq, T]
      auto dq = at::empty_like(q), dk = at::empty_like(k), dv = at::empty_like(v);
      tiledAttentionBackwardF32(tileProblem(q, k, keyMask, causal, scale), q.data_ptr<float>(), k.data_ptr<float>(), v.data_ptr<float>(), dO.data_ptr<float>(), lse.data_ptr<float>(), delta.data_ptr<float>(), dq.data_ptr<float>(), dk.data_ptr<float>(), dv.data_ptr<float>());
      return {dq, dk, dv, at::Tensor(), at::Tensor(), at::Tensor()};
    }
    // Matmuls in the inputs' dtype (bf16 under autocast: the CPU's bf16 units, as the plain
    // composition's autograd would use them), the softmax's backward and the sums in float.
    const auto mm = v.scalar_type();
    auto q5 = q.reshape({B, Hkv, G, T, D});
    auto dO5 = grads[0].reshape({B, Hkv, G, T, D});
    auto delta = (dO5.to(at::kFloat) * out.reshape({B, Hkv, G, T, D}).to(at::kFloat)).sum(-1);  // rowsum(dO ∘ O): [B, Hkv, G, T]
    auto dq = at::empty({B, Hkv, G, T, D}, q.options());
    auto dk = at::zeros({B, Hkv, S, D}, k.options().dtype(at::kFloat));
    auto dv = at::zeros({B, Hkv, S, D}, v.options().dtype(at::kFloat));
    const int64_t rows = blockRows(B, Hq, T, S);
    for (int64_t t0 = 0; t0 < T; t0 += rows) {
      const int64_t n = std::min(rows, T - t0), Sb = blockKeys(T, S, causal, t0, n);
      if (Sb == 0) {
        dq.narrow(3, t0, n).zero_();
        continue;
      }
      auto dOb = dO5.narrow(3, t0, n).reshape({B, Hkv, G * n, D}).to(mm);
      auto qb = q5.narrow(3, t0, n).reshape({B, Hkv, G * n, D});
      at::Tensor p, ds;  // [B, Hkv, G·n, Sb], in mm
      if (lse.numel() > 0) {
        auto s = at::matmul(qb, k.narrow(2, 0, Sb).transpose(-2, -1)).contiguous();
        auto dp = at::matmul(dOb, v.narrow(2, 0, Sb).transpose(-2, -1)).contiguous();
        p = at::empty_like(s);
        ds = at::empty_like(s);
        const RowBlock rb = rowBlock(s, keyMask, causal, scale, n, t0, T, S);
        if (s.scalar_type() == at::kBFloat16)
          softmaxBackwardRowsBF16(rb, bf16Bits(s), bf16Bits(dp), lse.data_ptr<float>(), delta.data_ptr<float>(), bf16Bits(p), bf16Bits(ds));
        else
          softmaxBackwardRowsF32(rb, s.data_ptr<float>(), dp.data_ptr<float>(), lse.data_ptr<float>(), delta.data_ptr<float>(), p.data_ptr<float>(), ds.data_ptr<float>());
      } else {
        auto pf = blockProbs(blockScores(q5, k, keyMask, causal, scale, t0, n, Sb), mayBeEmpty(keyMask, causal, T, S));
        auto dp = at::matmul(dOb, v.narrow(2, 0, Sb).transpose(-2, -1)).to(at::kFloat);
        ds = (pf * (dp - delta.narrow(3, t0, n).reshape({B, Hkv, G * n, 1})) * scale).to(mm);
        p = pf.to(mm);
      }
      dv.narrow(2, 0, Sb).add_(at::matmul(p.transpose(-2, -1), dOb));
      dq.narrow(3, t0, n).copy_(at::matmul(ds, k.narrow(2, 0, Sb)).view({B, Hkv, G, n, D}));
      dk.narrow(2, 0, Sb).add_(at::matmul(ds.transpose(-2, -1), qb));
    }
    return {dq.view({B, Hq, T, D}), dk.to(k.scalar_type()), dv.to(v.scalar_type()), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

bool blockAttentionApplies(const at::Tensor& q, const c10::optional<at::Tensor>& mask) {
  if (q.size(2) <= 1) return false;  // a decode step's scores are one row: nothing to save
  if (!mask) return true;
  const auto& m = *mask;
  // The key-padding mask the model passes for prefill and training: bool [B, 1, 1, S].
  return m.scalar_type() == at::kBool && m.dim() == 4 && m.size(1) == 1 && m.size(2) == 1;
}

at::Tensor blockAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const c10::optional<at::Tensor>& mask, bool causal, double scale) {
  const int64_t B = q.size(0), S = k.size(2);
  auto keyMask = at::empty({0}, q.options().dtype(at::kBool));
  if (mask) keyMask = mask->expand({B, 1, 1, S}).reshape({B, S}).contiguous();
  // One dtype for q, k and v (under autocast q and k leave their norms in float while v is
  // bf16): the one autocast would run the matmuls in, so the backward, which runs outside
  // autocast, recomputes exactly the forward's scores.
  auto dtype = at::promote_types(at::promote_types(q.scalar_type(), k.scalar_type()), v.scalar_type());
  if (q.device().is_cpu() && at::autocast::is_cpu_enabled() && at::isFloatingType(dtype)) dtype = at::autocast::get_autocast_cpu_dtype();
  if (q.device().is_cuda() && at::autocast::is_enabled() && at::isFloatingType(dtype)) dtype = at::autocast::get_autocast_gpu_dtype();
  auto as = [&](const at::Tensor& t) { return t.to(dtype).contiguous(); };
  return BlockAttention::apply(as(q), as(k), as(v), keyMask, causal, scale);
}

}  // namespace gr2
