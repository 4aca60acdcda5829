/** Process-wide engine settings: threads, seeds and RNG state, autocast, device discovery. */
import { native } from "./native.js";
import { DTYPE_CODES, type DType } from "./dtype.js";
import { fromHandle, type Tensor } from "./tensor.js";

/** libtorch intra-op threads (defaults to every core, or GR2_THREADS). */
export const setNumThreads = (n: number): void => native.setNumThreads(n);
export const getNumThreads = (): number => native.getNumThreads();

/** Runs fn with `n` intra-op threads, then restores the previous count. */
export function withThreads<R>(n: number, fn: () => R): R {
  const prev = native.getNumThreads();
  if (n === prev) return fn();
  native.setNumThreads(n);
  try {
    return fn();
  } finally {
    native.setNumThreads(prev);
  }
}

/**
 * Intra-op threads for generation (GR2_DECODE_THREADS, else half the intra-op threads, at least
 * one). Decoding runs hundreds of small ops per token, where OpenMP's fork/join costs more than
 * a second thread gains: on our 2-core VM one thread evaluates the demo's 100 lists 1.4× faster
 * than two (26 s vs 37 s) and serves a direct rerank 4× faster at p50 (31 ms vs 129 ms), while
 * training's large matmuls still gain from both cores (docs/benchmarks.md).
 */
export function decodeThreads(): number {
  const raw = process.env.GR2_DECODE_THREADS;
  if (raw !== undefined && raw !== "") {
    const n = Number(raw);
    if (!(Number.isInteger(n) && n > 0)) throw new Error(`GR2_DECODE_THREADS must be a positive integer, got ${JSON.stringify(raw)}`);
    return n;
  }
  return Math.max(1, Math.floor(native.getNumThreads() / 2));
}
export const libtorchVersion = (): string => native.version();
export const cudaAvailable = (): boolean => native.cudaAvailable();

/** Seeds libtorch's generator (every random op: init, dropout, sampling). */
export const manualSeed = (seed: number): void => native.manualSeed(seed);
/** The CPU generator's complete state, as a uint8 tensor (saved in checkpoints). */
export const getRngState = (): Tensor => fromHandle(native.getRngState());
export const setRngState = (state: Tensor): void => native.setRngState(state.handle);

/**
 * Runs fn with automatic mixed precision: matmuls and linears run in `dtype` (bf16 by default)
 * while parameters stay fp32 (master weights) and reductions stay fp32. On our CPUs bf16
 * matmuls use AMX/AVX-512 through oneDNN and run several times faster than fp32.
 */
export function autocast<R>(fn: () => R, { device = "cpu", dtype = "bfloat16" as DType, enabled = true } = {}): R {
  const deviceType = device.startsWith("cuda") ? "cuda" : "cpu";
  const prev = native.setAutocast(deviceType, enabled, DTYPE_CODES[dtype]);
  try {
    return fn();
  } finally {
    native.setAutocast(deviceType, prev, DTYPE_CODES[dtype]);
  }
}
