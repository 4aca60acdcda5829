// Shared plumbing for the gr2 libtorch addon: the tensor handle table, argument readers and
// the error boundary. The addon is deliberately thin: every function maps one libtorch call
// (or a short composition, such as RMSNorm) onto a Node-API function taking plain numbers.
//
// Why handles instead of wrapped objects: a tensor crosses into JS as a small integer that
// indexes `Table`. Creating a JS number is far cheaper than an ObjectWrap per op result, and
// freeing is explicit (`free(h)`) so memory is released deterministically, not by the GC.
#pragma once

#include <ATen/ATen.h>
#include <napi.h>

#include <string>
#include <vector>

namespace gr2 {

class Table {
 public:
  int32_t put(at::Tensor t) {
    if (!free_.empty()) {
      int32_t h = free_.back();
      free_.pop_back();
      slots_[h] = std::move(t);
      ++live_;
      return h;
    }
    slots_.push_back(std::move(t));
    ++live_;
    return static_cast<int32_t>(slots_.size() - 1);
  }
  at::Tensor& get(int32_t h) {
    if (h < 0 || static_cast<size_t>(h) >= slots_.size() || !slots_[h].defined()) {
      throw std::invalid_argument("tensor is disposed (handle " + std::to_string(h) + ")");
    }
    return slots_[h];
  }
  void release(int32_t h) {
    if (h < 0 || static_cast<size_t>(h) >= slots_.size() || !slots_[h].defined()) return;
    slots_[h].reset();
    free_.push_back(h);
    --live_;
  }
  int64_t live() const { return live_; }

 private:
  std::vector<at::Tensor> slots_;
  std::vector<int32_t> free_;
  int64_t live_ = 0;
};

Table& table();

// ---- dtype / device codes shared with src/torch/dtype.ts --------------------------------
at::ScalarType dtypeFromCode(int code);
int codeFromDtype(at::ScalarType t);
c10::Device deviceFrom(const Napi::Value& v);

// ---- argument readers ---------------------------------------------------------------------
inline at::Tensor& T(const Napi::CallbackInfo& info, size_t i) {
  return table().get(info[i].As<Napi::Number>().Int32Value());
}
inline bool hasTensor(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && info[i].IsNumber() && info[i].As<Napi::Number>().Int32Value() >= 0;
}
inline c10::optional<at::Tensor> optT(const Napi::CallbackInfo& info, size_t i) {
  if (!hasTensor(info, i)) return c10::nullopt;
  return T(info, i);
}
inline int64_t I(const Napi::CallbackInfo& info, size_t i) {
  return info[i].As<Napi::Number>().Int64Value();
}
inline double F(const Napi::CallbackInfo& info, size_t i) {
  return info[i].As<Napi::Number>().DoubleValue();
}
inline bool B(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && info[i].ToBoolean().Value();
}
inline std::string S(const Napi::CallbackInfo& info, size_t i) {
  return info[i].As<Napi::String>().Utf8Value();
}
std::vector<int64_t> ints(const Napi::Value& v);
std::vector<at::Tensor> tensors(const Napi::Value& v);

// ---- results ------------------------------------------------------------------------------
inline Napi::Value ret(Napi::Env env, at::Tensor t) {
  return Napi::Number::New(env, table().put(std::move(t)));
}
Napi::Value retMany(Napi::Env env, std::vector<at::Tensor> ts);

// c10 errors carry a C++ backtrace; JS users need the first lines only.
std::string cleanMessage(const std::string& what);

// Every exported function goes through this boundary so a libtorch error becomes a JS Error
// (never an abort). Used as: reg(exports, "add", [](auto& info) { ... });
using Fn = Napi::Value (*)(const Napi::CallbackInfo&);
void reg(Napi::Env env, Napi::Object exports, const char* name, Fn fn);

void registerTensorOps(Napi::Env env, Napi::Object exports);
void registerNNOps(Napi::Env env, Napi::Object exports);
void registerAutogradOps(Napi::Env env, Napi::Object exports);
void registerAllocatorOps(Napi::Env env, Napi::Object exports);
void installAllocator();

}  // namespace gr2
