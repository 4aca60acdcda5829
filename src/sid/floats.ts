/**
 * Decoding packed floating-point data (safetensors, .npy) into Float32Array.
 *
 * Embedding files come as float32, float64, float16 or bfloat16; everything in src/sid works in
 * float32, so each is widened or narrowed here, once. Reads go through a DataView because a
 * tensor's byte offset inside a file need not be aligned for a typed-array view, and so that
 * big-endian .npy files decode correctly on little-endian machines.
 */

export type FloatKind = "f16" | "bf16" | "f32" | "f64";

/** Bytes per element. */
export const FLOAT_BYTES: Record<FloatKind, number> = { f16: 2, bf16: 2, f32: 4, f64: 8 };

const bits = new Uint32Array(1);
const asFloat = new Float32Array(bits.buffer);

/** IEEE 754 binary16 → number (subnormals, infinities and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * Math.pow(2, -14) * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * Math.pow(2, exp - 15) * (1 + frac / 1024);
}

/** bfloat16 is the top half of a float32: shift the bits back into place. */
export function bfloat16ToFloat(b: number): number {
  bits[0] = (b & 0xffff) << 16;
  return asFloat[0]!;
}

/** `count` values of `kind` starting at `bytes[0]`. */
export function decodeFloats(bytes: Uint8Array, kind: FloatKind, count: number, littleEndian = true): Float32Array {
  const need = count * FLOAT_BYTES[kind];
  if (bytes.byteLength < need) throw new Error(`expected ${need} bytes of ${kind} data, found ${bytes.byteLength}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, need);
  const out = new Float32Array(count);
  switch (kind) {
    case "f32":
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, littleEndian);
      break;
    case "f64":
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, littleEndian);
      break;
    case "f16":
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, littleEndian));
      break;
    case "bf16":
      for (let i = 0; i < count; i++) out[i] = bfloat16ToFloat(view.getUint16(i * 2, littleEndian));
      break;
  }
  return out;
}
