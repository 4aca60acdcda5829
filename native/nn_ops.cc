// Neural-network ops: matmuls, softmax, embedding, RMSNorm, attention and the losses, plus
// the optimiser kernels. Compositions are written with ATen ops so autograd derives their
// backward; the point of composing in C++ is fewer JS→C++ crossings per layer.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/core/DistributionsHelper.h>
#include <c10/core/GradMode.h>

#include <cmath>

#include "attention.h"
#include "common.h"
#include "swiglu.h"

namespace gr2 {
namespace {

#define FN [](const Napi::CallbackInfo& info) -> Napi::Value

// True when no autograd graph is needed for these inputs: then the fused kernels below may
// run instead of the ATen compositions (which autograd can differentiate).
bool inferenceOnly(std::initializer_list<at::Tensor> ts) {
  if (!c10::GradMode::is_enabled()) return true;
  for (const auto& t : ts)
    if (t.requires_grad()) return false;
  return true;
}

// RMSNorm as in Llama/Qwen: normalise in float32, cast back, then scale.
at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  TORCH_CHECK(weight.dim() == 1 && x.dim() >= 1 && weight.size(0) == x.size(-1), "rmsNorm: weight of shape ", weight.sizes(), " does not match the last dim of x ", x.sizes());
  if (inferenceOnly({x, weight}) && x.scalar_type() == at::kFloat && weight.scalar_type() == at::kFloat && x.device().is_cpu() && weight.is_contiguous()) {
    // Fused single pass per row: one op instead of six, which is what decoding spends its time on.
    auto xc = x.contiguous();
    auto out = at::empty_like(xc);
    const int64_t D = xc.size(-1), rows = xc.numel() / D;
    const float* in = xc.data_ptr<float>();
    const float* w = weight.data_ptr<float>();
    float* o = out.data_ptr<float>();
    at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const float* row = in + r * D;
        float ss = 0;
        for (int64_t i = 0; i < D; ++i) ss += row[i] * row[i];
        const float scale = 1.0f / std::sqrt(ss / D + static_cast<float>(eps));
        float* dst = o + r * D;
        for (int64_t i = 0; i < D; ++i) dst[i] = row[i] * scale * w[i];
      }
    });
    return out;
  }
  auto xf = x.to(at::kFloat);
  auto normed = xf * at::rsqrt(xf.square().mean(-1, true) + eps);
  return normed.to(x.scalar_type()) * weight;
}

// Rotary embedding, HF "rotate half" layout: out = x·cos + rotate_half(x)·sin where
// rotate_half(x) = [-x2, x1]. x: [B, H, T, D] (any strides); cos/sin broadcastable [B|1, 1, T, D].
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) % 2 == 0, "rope: the last dim of x must be even (it is split in halves), got ", x.sizes());
  if (inferenceOnly({x, cos, sin}) && x.scalar_type() == at::kFloat && cos.scalar_type() == at::kFloat && sin.scalar_type() == at::kFloat &&
      x.dim() == 4 && cos.dim() == 4 && cos.size(1) == 1 && sin.sizes() == cos.sizes() && x.device().is_cpu()) {
    const int64_t B = x.size(0), H = x.size(1), T = x.size(2), D = x.size(3), half = D / 2;
    auto c = cos.expand({B, 1, T, D}).contiguous();
    auto s = sin.expand({B, 1, T, D}).contiguous();
    auto out = at::empty({B, H, T, D}, x.options());
    const float* xp = x.data_ptr<float>();
    const float* cp = c.data_ptr<float>();
    const float* sp = s.data_ptr<float>();
    float* op = out.data_ptr<float>();
    const int64_t sb = x.stride(0), sh = x.stride(1), st = x.stride(2), sd = x.stride(3);
    at::parallel_for(0, B * H * T, 64, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t b = r / (H * T), h = (r / T) % H, t = r % T;
        const float* xr = xp + b * sb + h * sh + t * st;
        const float* cr = cp + (b * T + t) * D;
        const float* sr = sp + (b * T + t) * D;
        float* dst = op + r * D;
        for (int64_t i = 0; i < half; ++i) {
          const float x1 = xr[i * sd], x2 = xr[(i + half) * sd];
          dst[i] = x1 * cr[i] - x2 * sr[i];
          dst[i + half] = x2 * cr[i + half] + x1 * sr[i + half];
        }
      }
    });
    return out;
  }
  auto half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  return x * cos + at::cat({-x2, x1}, -1) * sin;
}

// Scaled dot-product attention with grouped-query heads.
// q: [B, Hq, T, D]; k, v: [B, Hkv, S, D] with Hq a multiple of Hkv; mask (optional) broadcastable
// to [B, 1 or Hq, T, S], bool (true = may attend) or additive float. `causal` aligns the last
// query with the last key (so a decode step with T = 1 sees every cached key).
// GQA without copying K/V: the G = Hq/Hkv query heads that share a KV head are folded into the
// query-length axis, so one batched matmul per KV head serves them all.
// Training and prefill go to the query-blocked kernel (attention.cc), which never holds the
// [T, S] scores; decode steps, additive masks and `plain` (tests compare the two) stay here.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const c10::optional<at::Tensor>& mask, bool causal, double scale, bool plain) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention expects 4-d q, k, v ([B, H, T, D]); got q ", q.sizes(), ", k ", k.sizes(), ", v ", v.sizes());
  const int64_t B = q.size(0), Hq = q.size(1), T = q.size(2), D = q.size(3);
  const int64_t Hkv = k.size(1), S = k.size(2);
  TORCH_CHECK(k.size(0) == B && v.size(0) == B, "attention: batch sizes differ (q ", B, ", k ", k.size(0), ", v ", v.size(0), ")");
  TORCH_CHECK(Hkv > 0 && Hq % Hkv == 0, "attention: query heads (", Hq, ") must be a multiple of key/value heads (", Hkv, ")");
  TORCH_CHECK(k.size(3) == D && v.size(2) == S && v.size(1) == Hkv, "attention: k/v shapes ", k.sizes(), "/", v.sizes(), " do not match q ", q.sizes());
  if (!plain && blockAttentionApplies(q, mask)) return blockAttention(q, k, v, mask, causal, scale);
  const int64_t G = Hq / Hkv;
  auto qg = q.reshape({B, Hkv, G * T, D});
  auto scores = at::matmul(qg, k.transpose(-2, -1)) * scale;  // [B, Hkv, G*T, S]
  scores = scores.to(at::kFloat);
  if (causal && T > 1) {
    // Query i (absolute position S - T + i) may see keys j <= S - T + i.
    auto allowed = at::ones({T, S}, q.options().dtype(at::kBool)).tril(S - T);
    allowed = allowed.unsqueeze(0).expand({G, T, S}).reshape({G * T, S});
    scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  }
  if (mask) {
    auto m = *mask;
    while (m.dim() < 4) m = m.unsqueeze(0);
    const int64_t mh = m.size(1);
    TORCH_CHECK(mh == 1 || mh == Hq, "attention: mask head dim must be 1 or ", Hq, ", got ", mh);
    m = m.expand({B, mh, T, S});
    m = mh == 1 ? m.unsqueeze(2).expand({B, 1, G, T, S}).reshape({B, 1, G * T, S})
                : m.reshape({B, Hkv, G * T, S});
    if (m.scalar_type() == at::kBool) {
      scores = scores.masked_fill(m.logical_not(), -std::numeric_limits<float>::infinity());
    } else {
      scores = scores + m;
    }
  }
  auto probs = at::softmax(scores, -1);
  // A row whose keys are all masked (padding) gives NaN; make it attend to nothing instead.
  // Additive float masks are the caller's: they must leave each row at least one key.
  // (Causal attention with more queries than keys has such rows too.)
  if ((mask && mask->scalar_type() == at::kBool) || (causal && T > S)) probs = at::nan_to_num(probs, 0.0);
  auto out = at::matmul(probs.to(v.scalar_type()), v);  // [B, Hkv, G*T, D]
  return out.reshape({B, Hq, T, D});
}

// Cross-entropy over the last dim with ignore_index and optional per-token weights.
// reduction: 0 = none (per token, 0 where ignored), 1 = mean over weights of kept tokens, 2 = sum.
at::Tensor crossEntropy(const at::Tensor& logits, const at::Tensor& targets,
                        const c10::optional<at::Tensor>& weights, int64_t ignoreIndex, int64_t reduction) {
  TORCH_CHECK(logits.dim() == 2, "crossEntropy expects logits [N, V], got ", logits.sizes());
  TORCH_CHECK(targets.dim() == 1 && targets.size(0) == logits.size(0), "crossEntropy: targets ", targets.sizes(), " do not match logits ", logits.sizes());
  TORCH_CHECK(targets.scalar_type() == at::kLong, "crossEntropy: targets must be int64, got ", targets.scalar_type());
  auto logp = at::log_softmax(logits.to(at::kFloat), -1);
  auto keep = targets.ne(ignoreIndex);
  auto safe = at::where(keep, targets, at::zeros_like(targets));
  auto nll = -logp.gather(1, safe.unsqueeze(1)).squeeze(1);
  auto w = keep.to(at::kFloat);
  if (weights) {
    TORCH_CHECK(weights->sizes() == targets.sizes(), "crossEntropy: weights ", weights->sizes(), " do not match targets ", targets.sizes());
    w = w * weights->to(at::kFloat);
  }
  auto per = nll * w;
  if (reduction == 0) return per;
  if (reduction == 2) return per.sum();
  return per.sum() / w.sum().clamp_min(1e-12);
}

// One draw per row from unnormalised non-negative weights [B, V], by inverse CDF: one uniform
// and one running sum per row. (at::multinomial draws an exponential per *element*, i.e.
// B·V logarithms per step, which is most of a small model's sampling time.) Uses libtorch's
// default generator, so manualSeed and the saved RNG state govern it like any other draw.
at::Tensor sampleCategorical(const at::Tensor& weights) {
  TORCH_CHECK(weights.dim() == 2, "sampleCategorical expects [B, V] weights, got ", weights.sizes());
  if (!weights.device().is_cpu()) return at::multinomial(weights, 1).squeeze(1);
  auto w = weights.to(at::kFloat).contiguous();
  const int64_t B = w.size(0), V = w.size(1);
  auto out = at::empty({B}, w.options().dtype(at::kLong));
  const float* wp = w.data_ptr<float>();
  int64_t* op = out.data_ptr<int64_t>();
  auto gen = at::get_generator_or_default<at::CPUGeneratorImpl>(c10::nullopt, at::detail::getDefaultCPUGenerator());
  std::lock_guard<std::mutex> lock(gen->mutex_);
  at::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (int64_t b = 0; b < B; ++b) {
    const float* row = wp + b * V;
    double total = 0;
    int64_t last = -1;
    for (int64_t i = 0; i < V; ++i) {
      TORCH_CHECK(row[i] >= 0, "sampleCategorical: row ", b, " has a negative or NaN weight at ", i);
      total += row[i];
      if (row[i] > 0) last = i;
    }
    TORCH_CHECK(total > 0 && std::isfinite(total), "sampleCategorical: row ", b, " has no positive weight (every token masked?)");
    const double u = uniform(gen) * total;
    double cum = 0;
    int64_t pick = last;  // rounding can leave u just above the final sum
    for (int64_t i = 0; i < V; ++i) {
      cum += row[i];
      if (cum > u && row[i] > 0) {
        pick = i;
        break;
      }
    }
    op[b] = pick;
  }
  return out;
}

void nn(Napi::Env env, Napi::Object exports) {
  reg(env, exports, "sampleCategorical", FN { return ret(info.Env(), sampleCategorical(T(info, 0))); });
  reg(env, exports, "matmul", FN { return ret(info.Env(), at::matmul(T(info, 0), T(info, 1))); });
  reg(env, exports, "bmm", FN { return ret(info.Env(), at::bmm(T(info, 0), T(info, 1))); });
  reg(env, exports, "linear", FN { return ret(info.Env(), at::linear(T(info, 0), T(info, 1), optT(info, 2))); });
  reg(env, exports, "softmax", FN { return ret(info.Env(), at::softmax(T(info, 0), I(info, 1))); });
  reg(env, exports, "logSoftmax", FN { return ret(info.Env(), at::log_softmax(T(info, 0), I(info, 1))); });
  reg(env, exports, "embedding", FN { return ret(info.Env(), at::embedding(T(info, 0), T(info, 1))); });
  reg(env, exports, "rmsNorm", FN { return ret(info.Env(), rmsNorm(T(info, 0), T(info, 1), F(info, 2))); });
  reg(env, exports, "dropout", FN { return ret(info.Env(), at::dropout(T(info, 0), F(info, 1), B(info, 2))); });
  reg(env, exports, "attention", FN {
    return ret(info.Env(), attention(T(info, 0), T(info, 1), T(info, 2), optT(info, 3), B(info, 4), F(info, 5), B(info, 6)));
  });
  reg(env, exports, "crossEntropy", FN {
    return ret(info.Env(), crossEntropy(T(info, 0), T(info, 1), optT(info, 2), I(info, 3), I(info, 4)));
  });
  // SwiGLU's gate: silu(gate) * up, one crossing instead of two.
  reg(env, exports, "swiglu", FN { return ret(info.Env(), swiglu(T(info, 0), T(info, 1))); });
  reg(env, exports, "rope", FN { return ret(info.Env(), rope(T(info, 0), T(info, 1), T(info, 2))); });
}

// AdamW (Loshchilov & Hutter), the same update as torch.optim.AdamW: decoupled weight decay,
// bias-corrected moments. One call per parameter group; state tensors live in TS so that
// checkpoints can save them. Parameters without a grad are skipped.
void optim(Napi::Env env, Napi::Object exports) {
  reg(env, exports, "adamwStep", FN {
    auto params = tensors(info[0]);
    auto expAvg = tensors(info[1]);
    auto expAvgSq = tensors(info[2]);
    double lr = F(info, 3), beta1 = F(info, 4), beta2 = F(info, 5), eps = F(info, 6), wd = F(info, 7);
    double step = F(info, 8);
    at::NoGradGuard noGrad;
    double bc1 = 1 - std::pow(beta1, step), bc2 = 1 - std::pow(beta2, step);
    for (size_t i = 0; i < params.size(); ++i) {
      auto& p = params[i];
      const auto& g = p.grad();
      if (!g.defined()) continue;
      if (wd != 0) p.mul_(1 - lr * wd);
      expAvg[i].mul_(beta1).add_(g, 1 - beta1);
      expAvgSq[i].mul_(beta2).addcmul_(g, g, 1 - beta2);
      auto denom = (expAvgSq[i].sqrt() / std::sqrt(bc2)).add_(eps);
      p.addcdiv_(expAvg[i], denom, -lr / bc1);
    }
    return info.Env().Undefined();
  });
  // Global L2 norm of the grads; when maxNorm > 0 and the norm exceeds it, scale the grads
  // down (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping.
  reg(env, exports, "clipGradNorm", FN {
    auto params = tensors(info[0]);
    double maxNorm = F(info, 1);
    at::NoGradGuard noGrad;
    std::vector<at::Tensor> norms;
    for (auto& p : params)
      if (p.grad().defined()) norms.push_back(at::norm(p.grad().to(at::kFloat), 2));
    if (norms.empty()) return Napi::Number::New(info.Env(), 0.0);
    double total = at::norm(at::stack(norms), 2).item<double>();
    if (maxNorm > 0) {
      double coef = maxNorm / (total + 1e-6);
      if (coef < 1)
        for (auto& p : params)
          if (p.grad().defined()) p.mutable_grad().mul_(coef);
    }
    return Napi::Number::New(info.Env(), total);
  });
}

}  // namespace

void registerNNOps(Napi::Env env, Napi::Object exports) {
  nn(env, exports);
  optim(env, exports);
}

}  // namespace gr2
