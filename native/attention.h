// Memory-efficient attention (attention.cc): the query-blocked kernel the plain composition in
// nn_ops.cc hands training and prefill to.
#pragma once

#include <ATen/ATen.h>

namespace gr2 {

// Whether the blocked kernel serves this call: more than one query, and no mask or the
// key-padding mask (bool [B, 1, 1, S]).
bool blockAttentionApplies(const at::Tensor& q, const c10::optional<at::Tensor>& mask);

at::Tensor blockAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const c10::optional<at::Tensor>& mask, bool causal, double scale);

}  // namespace gr2
