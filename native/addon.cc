// Module entry: the handle table, dtype/device codes, the error boundary and the
// process-wide settings (threads, seed, RNG state, autocast, memory counters).
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <atomic>
#include <thread>
#include <vector>
#include <torch/version.h>

#include "common.h"

namespace gr2 {

Table& table() {
  static Table t;
  return t;
}

// Codes must match DTYPE_CODES in src/torch/dtype.ts.
at::ScalarType dtypeFromCode(int code) {
  switch (code) {
    case 0: return at::kFloat;
    case 1: return at::kDouble;
    case 2: return at::kBFloat16;
    case 3: return at::kHalf;
    case 4: return at::kLong;
    case 5: return at::kInt;
    case 6: return at::kBool;
    case 7: return at::kByte;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(code));
}

int codeFromDtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return 0;
    case at::kDouble: return 1;
    case at::kBFloat16: return 2;
    case at::kHalf: return 3;
    case at::kLong: return 4;
    case at::kInt: return 5;
    case at::kBool: return 6;
    case at::kByte: return 7;
    default: throw std::invalid_argument(std::string("unsupported dtype ") + c10::toString(t));
  }
}

c10::Device deviceFrom(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return c10::Device(c10::kCPU);
  return c10::Device(v.As<Napi::String>().Utf8Value());
}

std::vector<int64_t> ints(const Napi::Value& v) {
  auto arr = v.As<Napi::Array>();
  std::vector<int64_t> out(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) out[i] = arr.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

std::vector<at::Tensor> tensors(const Napi::Value& v) {
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(table().get(arr.Get(i).As<Napi::Number>().Int32Value()));
  return out;
}

Napi::Value retMany(Napi::Env env, std::vector<at::Tensor> ts) {
  auto arr = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); ++i) arr.Set(static_cast<uint32_t>(i), Napi::Number::New(env, table().put(std::move(ts[i]))));
  return arr;
}

std::string cleanMessage(const std::string& what) {
  // Keep the human part: drop "Exception raised from ..." and the frame list.
  std::string msg = what;
  auto cut = msg.find("\nException raised from");
  if (cut != std::string::npos) msg = msg.substr(0, cut);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

void reg(Napi::Env env, Napi::Object exports, const char* name, Fn fn) {
  exports.Set(name, Napi::Function::New(env, [fn, name](const Napi::CallbackInfo& info) -> Napi::Value {
    try {
      return fn(info);
    } catch (const Napi::Error&) {
      throw;
    } catch (const c10::Error& e) {
      throw Napi::Error::New(info.Env(), std::string(name) + ": " + cleanMessage(e.what_without_backtrace()));
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), std::string(name) + ": " + cleanMessage(e.what()));
    }
  }, name));
}

namespace {

void registerSystem(Napi::Env env, Napi::Object exports) {
  reg(env, exports, "free", [](const Napi::CallbackInfo& info) -> Napi::Value {
    table().release(info[0].As<Napi::Number>().Int32Value());
    return info.Env().Undefined();
  });
  reg(env, exports, "liveTensors", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<double>(table().live()));
  });
  reg(env, exports, "setNumThreads", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::set_num_threads(static_cast<int>(I(info, 0)));
    return info.Env().Undefined();
  });
  reg(env, exports, "getNumThreads", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::Number::New(info.Env(), at::get_num_threads());
  });
  // How many threads our own kernels' at::parallel_for runs on (ATen's header runs it serially
  // unless this file was compiled with OpenMP): the distinct thread ids that ran `n` one-item chunks.
  reg(env, exports, "parallelForThreads", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const int64_t n = I(info, 0);
    std::vector<std::atomic<bool>> seen(static_cast<size_t>(std::max(1, at::get_num_threads())));
    at::parallel_for(0, n, 1, [&](int64_t, int64_t) {
      const int t = at::get_thread_num();
      if (t >= 0 && static_cast<size_t>(t) < seen.size()) seen[t] = true;
    });
    int count = 0;
    for (auto& s : seen) count += s ? 1 : 0;
    return Napi::Number::New(info.Env(), count);
  });
  reg(env, exports, "manualSeed", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::manual_seed(static_cast<uint64_t>(I(info, 0)));
    return info.Env().Undefined();
  });
  // The CPU generator's full state (a uint8 tensor), so a resumed run samples exactly as an
  // uninterrupted one would.
  reg(env, exports, "getRngState", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    return ret(info.Env(), gen.get_state());
  });
  reg(env, exports, "setRngState", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(T(info, 0));
    return info.Env().Undefined();
  });
  // bf16/fp16 autocast for the given device type ("cpu" or "cuda"); returns the previous state.
  reg(env, exports, "setAutocast", [](const Napi::CallbackInfo& info) -> Napi::Value {
    std::string dev = S(info, 0);
    bool enabled = B(info, 1);
    auto dtype = dtypeFromCode(static_cast<int>(I(info, 2)));
    bool prev;
    if (dev == "cuda") {
      prev = at::autocast::is_enabled();
      at::autocast::set_autocast_gpu_dtype(dtype);
      at::autocast::set_enabled(enabled);
    } else {
      prev = at::autocast::is_cpu_enabled();
      at::autocast::set_autocast_cpu_dtype(dtype);
      at::autocast::set_cpu_enabled(enabled);
    }
    // Casted weight copies are cached while autocast is on; drop them when it turns off.
    if (!enabled) at::autocast::clear_cache();
    return Napi::Boolean::New(info.Env(), prev);
  });
  // The CPU's bf16 instructions. oneDNN (libtorch 1.13) runs bf16 matmuls in hardware only with
  // AVX512-BF16 or AMX; on AVX2-only CPUs autocast's bf16 matmuls fall back to scalar loops
  // (17.5x slower than fp32 on an AVX2 EPYC: docs/benchmarks.md, session 23), so callers check before autocasting.
  reg(env, exports, "cpuBf16", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto o = Napi::Object::New(info.Env());
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    o.Set("arch", "x86");
    o.Set("avx512_bf16", Napi::Boolean::New(info.Env(), __builtin_cpu_supports("avx512bf16")));
    o.Set("amx_bf16", Napi::Boolean::New(info.Env(), __builtin_cpu_supports("amx-bf16")));
#else
    o.Set("arch", "other");
#endif
    return o;
  });
  reg(env, exports, "cudaAvailable", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::Boolean::New(info.Env(), at::hasCUDA());
  });
  reg(env, exports, "version", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::String::New(info.Env(), std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH));
  });
}

}  // namespace
}  // namespace gr2

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // libtorch defaults to a single intra-op thread in some builds; use every core unless the
  // user said otherwise (GR2_THREADS, or setNumThreads later).
  const char* threads = std::getenv("GR2_THREADS");
  int n = threads ? std::atoi(threads) : static_cast<int>(std::thread::hardware_concurrency());
  if (n > 0) at::set_num_threads(n);
  gr2::installAllocator();
  gr2::registerSystem(env, exports);
  gr2::registerTensorOps(env, exports);
  gr2::registerNNOps(env, exports);
  gr2::registerAutogradOps(env, exports);
  gr2::registerAllocatorOps(env, exports);
  return exports;
}

NODE_API_MODULE(gr2_torch, Init)
