// silu(gate) · up (SwiGLU, Shazeer 2020) with a fused CPU forward and backward (swiglu.cc).
#pragma once

#include <ATen/ATen.h>

namespace gr2 {

at::Tensor swiglu(const at::Tensor& gate, const at::Tensor& up);

}  // namespace gr2
