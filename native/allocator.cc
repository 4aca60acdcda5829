// A caching CPU allocator for libtorch.
//
// Why: a training step allocates and frees the same large buffers every time (the logits of a
// batch are 64 MB for 2048 tokens × 8192 vocab). glibc serves blocks that large with mmap and
// returns them with munmap, so every step pays a page fault (and kernel zeroing) for every
// 4 KiB page it touches again: on our machines that was a third of a step's wall time, all of
// it system time. Keeping freed large blocks in size-bucketed free lists and handing them out
// again removes that cost; resident memory stays at the step's peak instead of oscillating.
//
// Small blocks go straight to malloc, which already recycles them well. The cache is bounded
// (GR2_ALLOCATOR_CACHE_MB, default 1024); past the bound freed blocks are returned to the OS.
// The bound must hold a training step's working set: before the blocked attention kernel, at
// 1 GiB the demo's SFT step (8 × ~1,100 tokens) spent 85% of its time in the kernel, unmapping
// and faulting its blocks again, and ran 2.4× slower, so the bound was 4 GiB. With the kernel
// and the demo's SIDs-only prompts a step's working set fits in 1 GiB, and the 4 GiB cache had
// become a third of resident memory (evaluation 2.7 GB at 4 GiB, 2.1 GB at 1 GiB;
// docs/benchmarks.md). Larger models that need more set the variable. What a stage parks here
// is returned between stages (the pipeline calls emptyCache), so one stage's shapes do not stay
// resident through the next.
// GR2_CACHING_ALLOCATOR=0 turns the whole thing off (libtorch's default allocator is used).
#include <c10/core/CPUAllocator.h>

#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <map>
#include <unordered_map>
#include <mutex>
#include <vector>

#include "common.h"

namespace gr2 {
namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kLargeBlock = 256 * 1024;

// Bucket sizes: round up to a 1/8 of the next power of two, so reuse wastes ≤ 12.5%.
size_t bucketSize(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  size_t step = std::max<size_t>(p / 8, 4096);
  return (n + step - 1) / step * step;
}

class CachingCPUAllocator final : public c10::Allocator {
 public:
  CachingCPUAllocator() {
    const char* mb = std::getenv("GR2_ALLOCATOR_CACHE_MB");
    limit_ = (mb ? static_cast<size_t>(std::atoll(mb)) : 1024) * 1024 * 1024;
  }

  // The context is the data pointer itself (libtorch's raw_allocate/raw_deallocate, used by
  // oneDNN paths, require that), so the deleter finds a large block's size in `live_`.
  c10::DataPtr allocate(size_t n) const override {
    auto* self = const_cast<CachingCPUAllocator*>(this);
    void* p = n < kLargeBlock ? raw(n == 0 ? 1 : n) : self->takeLarge(bucketSize(n));
    return {p, p, &release, c10::Device(c10::kCPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  // Returns every cached block to the OS.
  void emptyCache() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    cached_ = 0;
#if defined(__GLIBC__)
    malloc_trim(0);  // and the small blocks' free pages, which glibc keeps until asked
#endif
  }
  size_t cachedBytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_;
  }

 private:
  static void* raw(size_t n) {
    void* p = nullptr;
    if (posix_memalign(&p, kAlignment, n) != 0) throw std::bad_alloc();
    return p;
  }
  static void release(void* p);

  void* takeLarge(size_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    void* p = nullptr;
    // The smallest cached block that fits, up to twice the size asked for. Exact buckets alone
    // missed whenever a shape changed (a training batch's length, a decode step's context), so
    // new blocks were mapped and faulted while cached ones of nearby sizes sat idle until the
    // bound returned them to the OS.
    // Buckets are erased when emptied, so the first one at or above `size` holds a block.
    auto it = free_.lower_bound(size);
    if (it != free_.end() && it->first <= 2 * size) {
      size = it->first;
      p = it->second.back();
      it->second.pop_back();
      if (it->second.empty()) free_.erase(it);
      cached_ -= size;
    } else {
      p = raw(size);
    }
    live_[p] = size;
    return p;
  }
  void give(void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) {  // a small block: malloc recycles those itself
      std::free(p);
      return;
    }
    size_t size = it->second;
    live_.erase(it);
    if (cached_ + size > limit_) {
      std::free(p);
      return;
    }
    free_[size].push_back(p);
    cached_ += size;
  }

  std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  std::unordered_map<void*, size_t> live_;
  size_t cached_ = 0;
  size_t limit_;
};

CachingCPUAllocator* allocator() {
  static auto* a = new CachingCPUAllocator();  // never destroyed: blocks may outlive statics
  return a;
}

void CachingCPUAllocator::release(void* p) {
  if (p) allocator()->give(p);
}

}  // namespace

void installAllocator() {
  const char* on = std::getenv("GR2_CACHING_ALLOCATOR");
  if (on && std::string(on) == "0") return;
  c10::SetCPUAllocator(allocator(), /*priority=*/10);
#if defined(__GLIBC__)
  // glibc raises its mmap threshold to the size of each mmapped block freed (up to 32 MiB), after
  // which blocks of that size come from its heap, and a heap freed in the middle stays resident:
  // the blocks a stage returns with emptyCache then stayed in the process through every later
  // stage (the demo's direct stage peaked at 3.2 GB in the pipeline against 2.0 GB in a fresh
  // process; docs/benchmarks.md). A fixed threshold at our large-block size keeps every large
  // block mmapped, so freeing it returns it; the cache above spares the re-faulting of tensors:
  // the demo's peak fell 3.5 → 2.1 GB. Every cache miss is now a fresh mapping, though: with
  // exact-size buckets the DAPO stage ran 1.65× slower (session 14); best fit up to 2× brought
  // it back to glibc's dynamic threshold's time (docs/benchmarks.md, session 15).
  // GR2_MMAP_THRESHOLD_KB sets another threshold; 0 leaves glibc's dynamic one.
  const char* kb = std::getenv("GR2_MMAP_THRESHOLD_KB");
  const long threshold = kb ? std::atol(kb) * 1024 : static_cast<long>(kLargeBlock);
  if (threshold > 0) mallopt(M_MMAP_THRESHOLD, static_cast<int>(threshold));
#endif
}

void registerAllocatorOps(Napi::Env env, Napi::Object exports) {
  reg(env, exports, "allocatorCachedBytes", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<double>(allocator()->cachedBytes()));
  });
  reg(env, exports, "emptyCache", [](const Napi::CallbackInfo& info) -> Napi::Value {
    allocator()->emptyCache();
    return info.Env().Undefined();
  });
}

}  // namespace gr2
