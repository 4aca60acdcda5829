// Tensor creation, conversion to and from JS memory, metadata, elementwise ops, reductions,
// views and indexing. Each function is one libtorch call; the TS face gives them types.
#include <cstring>

#include "common.h"

namespace gr2 {
namespace {

at::TensorOptions opts(const Napi::CallbackInfo& info, size_t dtypeAt, size_t deviceAt) {
  return at::TensorOptions()
      .dtype(dtypeFromCode(static_cast<int>(I(info, dtypeAt))))
      .device(info.Length() > deviceAt ? deviceFrom(info[deviceAt]) : c10::Device(c10::kCPU));
}

// An optional number argument: undefined/null → nullopt.
c10::optional<at::Scalar> optScalar(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return c10::nullopt;
  return at::Scalar(F(info, i));
}

#define FN [](const Napi::CallbackInfo& info) -> Napi::Value
#define UNARY(name, expr) reg(env, exports, name, FN { auto& a = T(info, 0); return ret(info.Env(), expr); })
#define BINARY(name, expr) reg(env, exports, name, FN { auto& a = T(info, 0); auto& b = T(info, 1); return ret(info.Env(), expr); })
#define SCALAR(name, expr) reg(env, exports, name, FN { auto& a = T(info, 0); at::Scalar s(F(info, 1)); return ret(info.Env(), expr); })

void creation(Napi::Env env, Napi::Object exports) {
  // fromBuffer(typedArray, shape, dtypeCode, device): copies JS memory into a new tensor.
  reg(env, exports, "fromBuffer", FN {
    auto shape = ints(info[1]);
    auto options = opts(info, 2, 3);
    void* data;
    size_t bytes;
    if (info[0].IsTypedArray()) {
      auto ta = info[0].As<Napi::TypedArray>();
      data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
      bytes = ta.ByteLength();
    } else {
      auto ab = info[0].As<Napi::ArrayBuffer>();
      data = ab.Data();
      bytes = ab.ByteLength();
    }
    int64_t numel = 1;
    for (auto d : shape) {
      if (d < 0) throw std::invalid_argument("shape has a negative size");
      numel *= d;
    }
    size_t want = static_cast<size_t>(numel) * c10::elementSize(options.dtype().toScalarType());
    if (bytes != want) {
      throw std::invalid_argument("buffer holds " + std::to_string(bytes) + " bytes but shape " +
                                  c10::str(at::IntArrayRef(shape)) + " of " + c10::toString(options.dtype().toScalarType()) + " needs " +
                                  std::to_string(want));
    }
    auto cpu = at::empty(shape, options.device(c10::kCPU));
    if (bytes) std::memcpy(cpu.data_ptr(), data, bytes);
    return ret(info.Env(), options.device().is_cpu() ? cpu : cpu.to(options.device()));
  });
  // toBuffer(h): a fresh ArrayBuffer with the tensor's values in row-major order.
  reg(env, exports, "toBuffer", FN {
    auto t = T(info, 0).detach().to(c10::kCPU).contiguous();
    size_t bytes = t.numel() * t.element_size();
    auto ab = Napi::ArrayBuffer::New(info.Env(), bytes);
    if (bytes) std::memcpy(ab.Data(), t.data_ptr(), bytes);
    return ab;
  });
  reg(env, exports, "item", FN {
    auto& t = T(info, 0);
    if (t.numel() != 1) throw std::invalid_argument("item() needs a tensor with one element, got shape " + c10::str(t.sizes()));
    return Napi::Number::New(info.Env(), t.item<double>());
  });
  reg(env, exports, "zeros", FN { return ret(info.Env(), at::zeros(ints(info[0]), opts(info, 1, 2))); });
  reg(env, exports, "ones", FN { return ret(info.Env(), at::ones(ints(info[0]), opts(info, 1, 2))); });
  reg(env, exports, "empty", FN { return ret(info.Env(), at::empty(ints(info[0]), opts(info, 1, 2))); });
  reg(env, exports, "full", FN { return ret(info.Env(), at::full(ints(info[0]), F(info, 1), opts(info, 2, 3))); });
  reg(env, exports, "arange", FN { return ret(info.Env(), at::arange(F(info, 0), F(info, 1), F(info, 2), opts(info, 3, 4))); });
  reg(env, exports, "randn", FN { return ret(info.Env(), at::randn(ints(info[0]), opts(info, 1, 2))); });
  reg(env, exports, "rand", FN { return ret(info.Env(), at::rand(ints(info[0]), opts(info, 1, 2))); });
  reg(env, exports, "randint", FN { return ret(info.Env(), at::randint(I(info, 0), I(info, 1), ints(info[2]), opts(info, 3, 4))); });
  reg(env, exports, "zerosLike", FN { return ret(info.Env(), at::zeros_like(T(info, 0))); });
  reg(env, exports, "onesLike", FN { return ret(info.Env(), at::ones_like(T(info, 0))); });
}

void metadata(Napi::Env env, Napi::Object exports) {
  // One call returns everything the TS Tensor caches: [dtypeCode, device, ...shape].
  reg(env, exports, "meta", FN {
    auto& t = T(info, 0);
    auto arr = Napi::Array::New(info.Env(), 2 + t.dim());
    arr.Set(0u, Napi::Number::New(info.Env(), codeFromDtype(t.scalar_type())));
    arr.Set(1u, Napi::String::New(info.Env(), t.device().str()));
    for (int64_t i = 0; i < t.dim(); ++i) arr.Set(static_cast<uint32_t>(2 + i), Napi::Number::New(info.Env(), static_cast<double>(t.size(i))));
    return arr;
  });
  reg(env, exports, "strides", FN {
    auto& t = T(info, 0);
    auto arr = Napi::Array::New(info.Env(), t.dim());
    for (int64_t i = 0; i < t.dim(); ++i) arr.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), static_cast<double>(t.stride(i))));
    return arr;
  });
  reg(env, exports, "isContiguous", FN { return Napi::Boolean::New(info.Env(), T(info, 0).is_contiguous()); });
  reg(env, exports, "sameStorage", FN { return Napi::Boolean::New(info.Env(), T(info, 0).is_same(T(info, 1))); });
}

void elementwise(Napi::Env env, Napi::Object exports) {
  BINARY("add", at::add(a, b));
  BINARY("sub", at::sub(a, b));
  BINARY("mul", at::mul(a, b));
  BINARY("div", at::div(a, b));
  BINARY("pow", at::pow(a, b));
  BINARY("maximum", at::maximum(a, b));
  BINARY("minimum", at::minimum(a, b));
  BINARY("eq", at::eq(a, b));
  BINARY("ne", at::ne(a, b));
  BINARY("lt", at::lt(a, b));
  BINARY("le", at::le(a, b));
  BINARY("gt", at::gt(a, b));
  BINARY("ge", at::ge(a, b));
  BINARY("logicalAnd", at::logical_and(a, b));
  BINARY("logicalOr", at::logical_or(a, b));
  SCALAR("addScalar", at::add(a, s));
  SCALAR("subScalar", at::sub(a, s));
  SCALAR("rsubScalar", at::rsub(a, s));
  SCALAR("mulScalar", at::mul(a, s));
  SCALAR("divScalar", at::div(a, s));
  SCALAR("powScalar", at::pow(a, s));
  SCALAR("eqScalar", at::eq(a, s));
  SCALAR("neScalar", at::ne(a, s));
  SCALAR("ltScalar", at::lt(a, s));
  SCALAR("leScalar", at::le(a, s));
  SCALAR("gtScalar", at::gt(a, s));
  SCALAR("geScalar", at::ge(a, s));
  UNARY("neg", at::neg(a));
  UNARY("exp", at::exp(a));
  UNARY("log", at::log(a));
  UNARY("log1p", at::log1p(a));
  UNARY("sqrt", at::sqrt(a));
  UNARY("rsqrt", at::rsqrt(a));
  UNARY("abs", at::abs(a));
  UNARY("tanh", at::tanh(a));
  UNARY("sigmoid", at::sigmoid(a));
  UNARY("relu", at::relu(a));
  UNARY("silu", at::silu(a));
  UNARY("sin", at::sin(a));
  UNARY("cos", at::cos(a));
  UNARY("square", at::square(a));
  UNARY("reciprocal", at::reciprocal(a));
  UNARY("sign", at::sign(a));
  UNARY("floor", at::floor(a));
  UNARY("logicalNot", at::logical_not(a));
  UNARY("isnan", at::isnan(a));
  reg(env, exports, "gelu", FN { return ret(info.Env(), at::gelu(T(info, 0), B(info, 1) ? "tanh" : "none")); });
  reg(env, exports, "clamp", FN { return ret(info.Env(), at::clamp(T(info, 0), optScalar(info, 1), optScalar(info, 2))); });
  reg(env, exports, "where", FN { return ret(info.Env(), at::where(T(info, 0), T(info, 1), T(info, 2))); });
  reg(env, exports, "maskedFill", FN { return ret(info.Env(), at::masked_fill(T(info, 0), T(info, 1), F(info, 2))); });
  reg(env, exports, "toDtype", FN { return ret(info.Env(), T(info, 0).to(dtypeFromCode(static_cast<int>(I(info, 1))))); });
  reg(env, exports, "toDevice", FN { return ret(info.Env(), T(info, 0).to(deviceFrom(info[1]))); });
  reg(env, exports, "clone", FN { return ret(info.Env(), T(info, 0).clone()); });
}

// Reductions take a list of dims; an empty list means all dims.
void reductions(Napi::Env env, Napi::Object exports) {
  reg(env, exports, "sum", FN {
    auto dims = ints(info[1]);
    auto& a = T(info, 0);
    return ret(info.Env(), dims.empty() ? a.sum() : a.sum(dims, B(info, 2)));
  });
  reg(env, exports, "mean", FN {
    auto dims = ints(info[1]);
    auto& a = T(info, 0);
    return ret(info.Env(), dims.empty() ? a.mean() : a.mean(dims, B(info, 2)));
  });
  reg(env, exports, "amax", FN { return ret(info.Env(), at::amax(T(info, 0), ints(info[1]), B(info, 2))); });
  reg(env, exports, "amin", FN { return ret(info.Env(), at::amin(T(info, 0), ints(info[1]), B(info, 2))); });
  reg(env, exports, "maxDim", FN {
    auto r = at::max(T(info, 0), I(info, 1), B(info, 2));
    return retMany(info.Env(), {std::get<0>(r), std::get<1>(r)});
  });
  reg(env, exports, "minDim", FN {
    auto r = at::min(T(info, 0), I(info, 1), B(info, 2));
    return retMany(info.Env(), {std::get<0>(r), std::get<1>(r)});
  });
  reg(env, exports, "argmax", FN { return ret(info.Env(), at::argmax(T(info, 0), I(info, 1), B(info, 2))); });
  reg(env, exports, "logsumexp", FN {
    auto dims = ints(info[1]);
    auto& a = T(info, 0);
    if (dims.empty()) for (int64_t d = 0; d < a.dim(); ++d) dims.push_back(d);
    return ret(info.Env(), at::logsumexp(a, dims, B(info, 2)));
  });
  // Callers pass the dims explicitly (src/torch/tensor.ts expands "all" to every dim).
  reg(env, exports, "var", FN { return ret(info.Env(), at::var(T(info, 0), at::OptionalIntArrayRef(ints(info[1])), B(info, 2) ? 1 : 0, B(info, 3))); });
  reg(env, exports, "norm", FN { return ret(info.Env(), at::norm(T(info, 0), F(info, 1))); });
  reg(env, exports, "cumsum", FN { return ret(info.Env(), at::cumsum(T(info, 0), I(info, 1))); });
  reg(env, exports, "all", FN { return ret(info.Env(), at::all(T(info, 0))); });
  reg(env, exports, "any", FN { return ret(info.Env(), at::any(T(info, 0))); });
}

void views(Napi::Env env, Napi::Object exports) {
  reg(env, exports, "reshape", FN { return ret(info.Env(), T(info, 0).reshape(ints(info[1]))); });
  reg(env, exports, "view", FN { return ret(info.Env(), T(info, 0).view(ints(info[1]))); });
  reg(env, exports, "permute", FN { return ret(info.Env(), T(info, 0).permute(ints(info[1]))); });
  reg(env, exports, "transpose", FN { return ret(info.Env(), T(info, 0).transpose(I(info, 1), I(info, 2))); });
  reg(env, exports, "narrow", FN { return ret(info.Env(), T(info, 0).narrow(I(info, 1), I(info, 2), I(info, 3))); });
  reg(env, exports, "select", FN { return ret(info.Env(), T(info, 0).select(I(info, 1), I(info, 2))); });
  reg(env, exports, "squeeze", FN { return ret(info.Env(), T(info, 0).squeeze(I(info, 1))); });
  reg(env, exports, "unsqueeze", FN { return ret(info.Env(), T(info, 0).unsqueeze(I(info, 1))); });
  reg(env, exports, "expand", FN { return ret(info.Env(), T(info, 0).expand(ints(info[1]))); });
  reg(env, exports, "contiguous", FN { return ret(info.Env(), T(info, 0).contiguous()); });
  reg(env, exports, "flatten", FN { return ret(info.Env(), T(info, 0).flatten(I(info, 1), I(info, 2))); });
  reg(env, exports, "tril", FN { return ret(info.Env(), at::tril(T(info, 0), I(info, 1))); });
  reg(env, exports, "triu", FN { return ret(info.Env(), at::triu(T(info, 0), I(info, 1))); });
  reg(env, exports, "cat", FN { return ret(info.Env(), at::cat(tensors(info[0]), I(info, 1))); });
  reg(env, exports, "stack", FN { return ret(info.Env(), at::stack(tensors(info[0]), I(info, 1))); });
  reg(env, exports, "split", FN { return retMany(info.Env(), T(info, 0).split(I(info, 1), I(info, 2))); });
  reg(env, exports, "chunk", FN { return retMany(info.Env(), T(info, 0).chunk(I(info, 1), I(info, 2))); });
}

void indexing(Napi::Env env, Napi::Object exports) {
  reg(env, exports, "indexSelect", FN { return ret(info.Env(), at::index_select(T(info, 0), I(info, 1), T(info, 2))); });
  reg(env, exports, "gather", FN { return ret(info.Env(), at::gather(T(info, 0), I(info, 1), T(info, 2))); });
  reg(env, exports, "scatterAdd", FN { return ret(info.Env(), at::scatter_add(T(info, 0), I(info, 1), T(info, 2), T(info, 3))); });
  reg(env, exports, "scatter", FN { return ret(info.Env(), at::scatter(T(info, 0), I(info, 1), T(info, 2), T(info, 3))); });
  reg(env, exports, "topk", FN {
    auto r = at::topk(T(info, 0), I(info, 1), I(info, 2), B(info, 3), true);
    return retMany(info.Env(), {std::get<0>(r), std::get<1>(r)});
  });
  reg(env, exports, "sort", FN {
    auto r = at::sort(T(info, 0), I(info, 1), B(info, 2));
    return retMany(info.Env(), {std::get<0>(r), std::get<1>(r)});
  });
  reg(env, exports, "multinomial", FN { return ret(info.Env(), at::multinomial(T(info, 0), I(info, 1), B(info, 2))); });
}

// In-place ops: used by caches (copy a step's keys into a pre-allocated buffer) and by code
// that must keep a tensor's identity (parameters). They run under whatever grad mode is set.
void inplace(Napi::Env env, Napi::Object exports) {
  reg(env, exports, "copy_", FN { T(info, 0).copy_(T(info, 1)); return info.Env().Undefined(); });
  reg(env, exports, "fill_", FN { T(info, 0).fill_(F(info, 1)); return info.Env().Undefined(); });
  reg(env, exports, "zero_", FN { T(info, 0).zero_(); return info.Env().Undefined(); });
  reg(env, exports, "add_", FN { T(info, 0).add_(T(info, 1), F(info, 2)); return info.Env().Undefined(); });
  reg(env, exports, "mulScalar_", FN { T(info, 0).mul_(F(info, 1)); return info.Env().Undefined(); });
  reg(env, exports, "maskedFill_", FN { T(info, 0).masked_fill_(T(info, 1), F(info, 2)); return info.Env().Undefined(); });
  reg(env, exports, "indexCopy_", FN { T(info, 0).index_copy_(I(info, 1), T(info, 2), T(info, 3)); return info.Env().Undefined(); });
}

}  // namespace

void registerTensorOps(Napi::Env env, Napi::Object exports) {
  creation(env, exports);
  metadata(env, exports);
  elementwise(env, exports);
  reductions(env, exports);
  views(env, exports);
  indexing(env, exports);
  inplace(env, exports);
}

}  // namespace gr2
