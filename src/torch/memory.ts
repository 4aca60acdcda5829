/**
 * The engine's memory as a long-running process sees it: tensors alive (a leak shows here first) and the
 * bytes the caching CPU allocator (native/allocator.cc) holds for reuse. A server's batches
 * vary in shape (rows, prompt lengths), so over time the cache collects blocks of many sizes,
 * up to its bound (GR2_ALLOCATOR_CACHE_MB, 1 GiB by default) — resident memory that is not a
 * leak but looks like one. `trimAllocator` returns the cache to the OS when it holds more than
 * the server's budget (checked after each batch), keeping resident memory near the working set;
 * the pipeline empties it between stages, whose shapes differ entirely.
 */
import { native } from "./native.js";
import { liveTensors } from "./index.js";

/** Bytes held by the caching allocator (0 when it is off or the addon predates the call). */
export function allocatorCachedBytes(): number {
  return typeof native.allocatorCachedBytes === "function" ? Number(native.allocatorCachedBytes()) : 0;
}

/** Returns the cached blocks when they exceed `budgetBytes`; true if it did. */
export function trimAllocator(budgetBytes: number): boolean {
  if (typeof native.emptyCache !== "function" || allocatorCachedBytes() <= budgetBytes) return false;
  native.emptyCache();
  return true;
}

export { liveTensors };
