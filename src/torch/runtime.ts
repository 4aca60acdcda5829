/** Process-wide engine settings: threads, seeds and RNG state, autocast, device discovery. */
import { native, THREAD_POOL_DEFAULTS } from "./native.js";
import { DTYPE_CODES, type DType } from "./dtype.js";
import { fromHandle, type Tensor } from "./tensor.js";

/** libtorch intra-op threads (defaults to every core, or GR2_THREADS). */
export const setNumThreads = (n: number): void => native.setNumThreads(n);
export const getNumThreads = (): number => native.getNumThreads();

/**
 * How many threads the addon's own kernels (tiled attention, fused softmax and SwiGLU) run
 * on: ATen's at::parallel_for is header code that runs serially unless the addon is compiled
 * with OpenMP (native/binding.gyp), which no result shows, only the time.
 */
export const parallelForThreads = (items = 64): number => native.parallelForThreads(items);

/** The thread pools' idle settings this process runs with (native.ts sets them unless the user did). */
export function threadPoolSettings(): Record<string, string> {
  return Object.fromEntries(Object.keys(THREAD_POOL_DEFAULTS).map((name) => [name, process.env[name] ?? ""]));
}

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
 * while parameters stay fp32 (master weights) and reductions stay fp32. On CPUs with
 * AVX512-BF16 or AMX, bf16 matmuls run through oneDNN several times faster than fp32; on others
 * they are far slower (see `bf16Support`), so the model code asks for `mixedPrecision`, not this.
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

/**
 * Whether `device` runs bf16 matmuls in hardware. libtorch 1.13's oneDNN has bf16 kernels only
 * for AVX512-BF16 and AMX; elsewhere autocast's bf16 matmuls fall back to scalar loops: on an
 * AVX2-only EPYC, bf16-autocast training ran at 70 tokens/s against fp32's 1,230 (17.5x slower;
 * docs/benchmarks.md, session 23), while on an AVX512-BF16 one it ran 3.2x faster than fp32. CUDA devices
 * are taken to have it (Ampere and later). GR2_BF16=on|off overrides the check.
 */
export function bf16Support(device = "cpu"): { hardware: boolean; reason: string } {
  const force = process.env.GR2_BF16;
  if (force === "on") return { hardware: true, reason: "GR2_BF16=on" };
  if (force === "off") return { hardware: false, reason: "GR2_BF16=off" };
  if (force !== undefined && force !== "" && force !== "auto") throw new Error(`GR2_BF16 must be on, off or auto, got ${JSON.stringify(force)}`);
  if (device.startsWith("cuda")) return { hardware: true, reason: "CUDA" };
  const cpu = (cpuBf16 ??= native.cpuBf16());
  if (cpu.amx_bf16) return { hardware: true, reason: "AMX-BF16" };
  if (cpu.avx512_bf16) return { hardware: true, reason: "AVX512-BF16" };
  return { hardware: false, reason: cpu.arch === "x86" ? "this CPU has neither AVX512-BF16 nor AMX" : "bf16 matmuls are hardware-accelerated in libtorch 1.13 only on x86 with AVX512-BF16 or AMX" };
}
let cpuBf16: ReturnType<typeof native.cpuBf16> | undefined;
let warnedFp32 = false;

/**
 * What a "bf16" precision setting runs: fn under bf16 autocast where `device` runs bf16 matmuls
 * in hardware, else fn in fp32 (said once per process). Training, decoding and serving all go
 * through here, so a laptop without AVX512-BF16 trains at fp32 speed instead of ~18x slower.
 */
export function mixedPrecision<R>(fn: () => R, { device = "cpu", enabled = true } = {}): R {
  if (!enabled) return fn();
  const s = bf16Support(device);
  if (s.hardware) return autocast(fn, { device });
  if (!warnedFp32) {
    warnedFp32 = true;
    process.emitWarning(`bf16 precision runs as fp32 here: ${s.reason}, and bf16 matmuls would fall back to scalar loops (GR2_BF16=on forces bf16)`, { code: "GR2_BF16" });
  }
  return fn();
}
