/** Creating tensors: from JS data, constants, ranges and random draws. */
import { native } from "./native.js";
import { fromHandle, Tensor } from "./tensor.js";
import { assertDType, BYTES_PER_ELEMENT, DTYPE_CODES, dtypeOfArray, type AnyTypedArray, type DType } from "./dtype.js";

export interface TensorOptions {
  dtype?: DType;
  /** "cpu" (default), "cuda", "cuda:1", ... */
  device?: string;
}

/**
 * A tensor from JS data. `data` is a typed array (its dtype is used unless `dtype` says
 * otherwise: a Uint16Array holds bf16/f16 bit patterns) or a flat number[] (float32 unless
 * `dtype` says otherwise). `shape` defaults to 1-d.
 */
export function tensor(data: AnyTypedArray | number[], shape?: readonly number[], opts: TensorOptions = {}): Tensor {
  const dtype = opts.dtype ?? dtypeOfArray(data);
  assertDType(dtype);
  const arr = Array.isArray(data) ? toTyped(data, dtype) : data;
  const n = arr.byteLength / BYTES_PER_ELEMENT[dtype];
  const s = shape ?? [n];
  return fromHandle(native.fromBuffer(arr, s, DTYPE_CODES[dtype], opts.device ?? "cpu"));
}

function toTyped(data: number[], dtype: DType): AnyTypedArray {
  switch (dtype) {
    case "float32": return Float32Array.from(data);
    case "float64": return Float64Array.from(data);
    case "int64": return BigInt64Array.from(data, (x) => BigInt(Math.trunc(x)));
    case "int32": return Int32Array.from(data);
    case "bool":
    case "uint8": return Uint8Array.from(data);
    default: {
      // bf16/f16 from numbers: build float32 and let libtorch round.
      const f = tensor(Float32Array.from(data));
      try {
        const c = f.to(dtype);
        try { return c.data() as Uint16Array; } finally { c.dispose(); }
      } finally { f.dispose(); }
    }
  }
}

/** Shorthand for int64 index tensors, the dtype embedding/gather/cross-entropy expect. */
export function int64(data: number[] | readonly number[], shape?: readonly number[], device = "cpu"): Tensor {
  return tensor(BigInt64Array.from(data, (x) => BigInt(x)), shape, { dtype: "int64", device });
}

/** The dtype's native code; an unknown dtype string is refused by name (JS callers have no type checks). */
function code(dtype: string): number {
  assertDType(dtype);
  return DTYPE_CODES[dtype];
}
const dt = (o: TensorOptions) => code(o.dtype ?? "float32");
const dev = (o: TensorOptions) => o.device ?? "cpu";

export const zeros = (shape: readonly number[], o: TensorOptions = {}) => fromHandle(native.zeros(shape, dt(o), dev(o)));
export const ones = (shape: readonly number[], o: TensorOptions = {}) => fromHandle(native.ones(shape, dt(o), dev(o)));
export const empty = (shape: readonly number[], o: TensorOptions = {}) => fromHandle(native.empty(shape, dt(o), dev(o)));
export const full = (shape: readonly number[], value: number, o: TensorOptions = {}) => fromHandle(native.full(shape, value, dt(o), dev(o)));
/** Values start, start+step, ... < end; int64 unless a dtype is given. */
export const arange = (start: number, end: number, step = 1, o: TensorOptions = {}) =>
  fromHandle(native.arange(start, end, step, code(o.dtype ?? "int64"), dev(o)));
/** Standard normal draws from the seeded generator (see manualSeed). */
export const randn = (shape: readonly number[], o: TensorOptions = {}) => fromHandle(native.randn(shape, dt(o), dev(o)));
/** Uniform [0, 1) draws. */
export const rand = (shape: readonly number[], o: TensorOptions = {}) => fromHandle(native.rand(shape, dt(o), dev(o)));
/** Uniform integers in [low, high). */
export const randint = (low: number, high: number, shape: readonly number[], o: TensorOptions = {}) =>
  fromHandle(native.randint(low, high, shape, code(o.dtype ?? "int64"), dev(o)));
export const zerosLike = (t: Tensor) => fromHandle(native.zerosLike(t.handle));
export const onesLike = (t: Tensor) => fromHandle(native.onesLike(t.handle));
