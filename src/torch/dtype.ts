/** Element types the engine supports, and how each maps to JS memory. */
export type DType = "float32" | "float64" | "bfloat16" | "float16" | "int64" | "int32" | "bool" | "uint8";

/** Codes shared with native/addon.cc (dtypeFromCode). */
export const DTYPE_CODES: Record<DType, number> = {
  float32: 0,
  float64: 1,
  bfloat16: 2,
  float16: 3,
  int64: 4,
  int32: 5,
  bool: 6,
  uint8: 7,
};
export const DTYPES_BY_CODE: DType[] = ["float32", "float64", "bfloat16", "float16", "int64", "int32", "bool", "uint8"];

/** The typed array that holds each dtype's raw values. bf16/f16 travel as their 16-bit patterns. */
export interface TypedArrayFor {
  float32: Float32Array;
  float64: Float64Array;
  bfloat16: Uint16Array;
  float16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  bool: Uint8Array;
  uint8: Uint8Array;
}
export type AnyTypedArray = TypedArrayFor[DType];

export const BYTES_PER_ELEMENT: Record<DType, number> = {
  float32: 4,
  float64: 8,
  bfloat16: 2,
  float16: 2,
  int64: 8,
  int32: 4,
  bool: 1,
  uint8: 1,
};

export function viewAs<D extends DType>(dtype: D, buf: ArrayBuffer): TypedArrayFor[D] {
  switch (dtype) {
    case "float32": return new Float32Array(buf) as TypedArrayFor[D];
    case "float64": return new Float64Array(buf) as TypedArrayFor[D];
    case "bfloat16":
    case "float16": return new Uint16Array(buf) as TypedArrayFor[D];
    case "int64": return new BigInt64Array(buf) as TypedArrayFor[D];
    case "int32": return new Int32Array(buf) as TypedArrayFor[D];
    default: return new Uint8Array(buf) as TypedArrayFor[D];
  }
}

export function isFloating(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float64" || dtype === "bfloat16" || dtype === "float16";
}

/** Which dtype a plain typed array stands for when no dtype is given. */
export function dtypeOfArray(a: AnyTypedArray | number[]): DType {
  if (a instanceof Float32Array || Array.isArray(a)) return "float32";
  if (a instanceof Float64Array) return "float64";
  if (a instanceof BigInt64Array) return "int64";
  if (a instanceof Int32Array) return "int32";
  if (a instanceof Uint8Array) return "uint8";
  throw new TypeError("a Uint16Array is ambiguous (bfloat16 or float16): pass dtype explicitly");
}

export function assertDType(d: string): asserts d is DType {
  if (!(d in DTYPE_CODES)) throw new TypeError(`unknown dtype "${d}"; expected one of ${Object.keys(DTYPE_CODES).join(", ")}`);
}
