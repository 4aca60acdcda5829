// Autograd: requires_grad, backward, .grad, and the grad mode switch behind `noGrad`.
#include <c10/core/GradMode.h>

#include "common.h"

namespace gr2 {
namespace {

#define FN [](const Napi::CallbackInfo& info) -> Napi::Value

void autograd(Napi::Env env, Napi::Object exports) {
  reg(env, exports, "setRequiresGrad", FN { T(info, 0).set_requires_grad(B(info, 1)); return info.Env().Undefined(); });
  reg(env, exports, "requiresGrad", FN { return Napi::Boolean::New(info.Env(), T(info, 0).requires_grad()); });
  reg(env, exports, "isLeaf", FN { return Napi::Boolean::New(info.Env(), T(info, 0).is_leaf()); });
  reg(env, exports, "retainGrad", FN { T(info, 0).retain_grad(); return info.Env().Undefined(); });
  reg(env, exports, "detach", FN { return ret(info.Env(), T(info, 0).detach()); });
  // backward(h, gradHandle | -1, retainGraph)
  reg(env, exports, "backward", FN {
    auto& t = T(info, 0);
    TORCH_CHECK(t.requires_grad(), "backward: the tensor does not require grad (nothing upstream has requires_grad, or it was computed under noGrad)");
    auto g = optT(info, 1);
    TORCH_CHECK(g || t.numel() == 1, "backward: a gradient is needed for a non-scalar tensor of shape ", t.sizes());
    t.backward(g ? *g : at::Tensor(), B(info, 2));
    return info.Env().Undefined();
  });
  // grad(h) → handle of the accumulated gradient, or -1 when there is none yet.
  reg(env, exports, "grad", FN {
    const auto& g = T(info, 0).grad();
    if (!g.defined()) return Napi::Number::New(info.Env(), -1);
    return ret(info.Env(), g);
  });
  reg(env, exports, "setGrad", FN {
    auto& t = T(info, 0);
    if (hasTensor(info, 1)) t.mutable_grad() = T(info, 1).detach().clone();
    else t.mutable_grad().reset();
    return info.Env().Undefined();
  });
  // zeroGrad([h...]): drop the grads (set_to_none semantics, as in PyTorch 2's default).
  reg(env, exports, "zeroGrad", FN {
    for (auto& p : tensors(info[0])) p.mutable_grad().reset();
    return info.Env().Undefined();
  });
  reg(env, exports, "setGradEnabled", FN {
    bool prev = c10::GradMode::is_enabled();
    c10::GradMode::set_enabled(B(info, 0));
    return Napi::Boolean::New(info.Env(), prev);
  });
  reg(env, exports, "isGradEnabled", FN { return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled()); });
}

}  // namespace

void registerAutogradOps(Napi::Env env, Napi::Object exports) { autograd(env, exports); }

}  // namespace gr2
