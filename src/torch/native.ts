/**
 * Loads the libtorch addon (native/build/Release/gr2_torch.node) and describes its functions.
 * Tensors cross the boundary as integer handles into the addon's table (see native/common.h);
 * src/torch/tensor.ts wraps them in `Tensor` objects with scoped, deterministic disposal.
 */
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

type H = number;
type Shape = readonly number[];

export interface NativeTorch {
  version(): string;
  free(h: H): void;
  liveTensors(): number;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  parallelForThreads(n: number): number;
  manualSeed(seed: number): void;
  getRngState(): H;
  setRngState(h: H): void;
  setAutocast(deviceType: string, enabled: boolean, dtypeCode: number): boolean;
  cudaAvailable(): boolean;
  cpuBf16(): { arch: "x86" | "other"; avx512_bf16?: boolean; amx_bf16?: boolean };

  fromBuffer(data: ArrayBufferView | ArrayBuffer, shape: Shape, dtypeCode: number, device: string): H;
  toBuffer(h: H): ArrayBuffer;
  item(h: H): number;
  zeros(shape: Shape, dtypeCode: number, device: string): H;
  ones(shape: Shape, dtypeCode: number, device: string): H;
  empty(shape: Shape, dtypeCode: number, device: string): H;
  full(shape: Shape, value: number, dtypeCode: number, device: string): H;
  arange(start: number, end: number, step: number, dtypeCode: number, device: string): H;
  randn(shape: Shape, dtypeCode: number, device: string): H;
  rand(shape: Shape, dtypeCode: number, device: string): H;
  randint(low: number, high: number, shape: Shape, dtypeCode: number, device: string): H;
  zerosLike(h: H): H;
  onesLike(h: H): H;

  meta(h: H): [number, string, ...number[]];
  strides(h: H): number[];
  isContiguous(h: H): boolean;
  sameStorage(a: H, b: H): boolean;

  [binary: string]: unknown;
}

function findAddon(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // src/torch (tsx) or dist/src/torch (compiled): walk up to the package root.
  for (let dir = here, i = 0; i < 5; i++, dir = dirname(dir)) {
    const p = join(dir, "native", "build", "Release", "gr2_torch.node");
    if (existsSync(p)) return p;
  }
  throw new Error(
    `the libtorch addon is not built (looked for native/build/Release/gr2_torch.node above ${resolve(here)}); ` +
      "run `npm run setup` (it installs libtorch when missing and builds the addon)",
  );
}

/**
 * Thread pools that sleep when they have nothing to do, unless the user chose otherwise. Between
 * calls libgomp's workers spin and OpenBLAS's call sched_yield for 2^28 cycles; a training step
 * makes thousands of calls, so they never sleep. On a 2-vCPU machine that spinning took a fifth of
 * a core in system time and made a full-prompt training step ~10% slower (docs/benchmarks.md,
 * session 25). Both libraries read these settings once, when they are loaded, so they are set
 * here, before the addon loads libtorch, libgomp and OpenBLAS.
 */
export const THREAD_POOL_DEFAULTS: Readonly<Record<string, string>> = { OMP_WAIT_POLICY: "passive", OPENBLAS_THREAD_TIMEOUT: "4" };
for (const [name, value] of Object.entries(THREAD_POOL_DEFAULTS)) process.env[name] ??= value;

const require = createRequire(import.meta.url);
export const native = require(findAddon()) as NativeTorch & Record<string, (...args: any[]) => any>;
