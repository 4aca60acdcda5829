/**
 * safetensors files (https://github.com/huggingface/safetensors) as float32 matrices, with no
 * engine: the format itself (layout, validation, aligned writing) is
 * src/util/safetensors-format.ts, shared with the engine's checkpoint I/O in src/torch.
 *
 * Only floating-point tensors are decoded (F32, F16, BF16, F64 → Float32Array), and only the
 * ones asked for, so a file that also holds e.g. an I64 ids tensor still reads. Every problem
 * is reported with the file name and the tensor concerned.
 */
import { encodeSafetensorsBytes, parseSafetensorsBytes, type SafetensorsEntry } from "../util/safetensors-format.js";
import { type FloatKind, decodeFloats } from "./floats.js";

export interface FloatTensor {
  dtype: string;
  shape: number[];
  data: Float32Array;
}

/** A tensor's header entry (`begin`/`end`: its byte range inside the data part). */
export type TensorInfo = SafetensorsEntry;

export interface SafetensorsFile {
  /** Every tensor's header entry, in header order. */
  infos: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** Decode one tensor to float32 (throws for non-float dtypes). */
  read(name: string): FloatTensor;
}

const DTYPES: Record<string, FloatKind> = { F32: "f32", F16: "f16", BF16: "bf16", F64: "f64" };

/** Parse a safetensors buffer; `file` is only used in error messages. */
export function parseSafetensors(buf: Uint8Array, file: string): SafetensorsFile {
  const { tensors: infos, metadata } = parseSafetensorsBytes(buf, file);
  return {
    infos,
    metadata,
    read(name: string): FloatTensor {
      const info = infos.get(name);
      if (!info) throw new Error(`${file}: no tensor "${name}" (has: ${[...infos.keys()].join(", ") || "none"})`);
      const kind = DTYPES[info.dtype];
      if (!kind) throw new Error(`${file}: tensor "${name}" has dtype ${info.dtype}; supported: ${Object.keys(DTYPES).join(", ")}`);
      const count = info.shape.reduce((a, b) => a * b, 1);
      return { dtype: info.dtype, shape: info.shape, data: decodeFloats(info.bytes, kind, count) };
    },
  };
}

/** Encode float32 tensors (and string metadata) as a safetensors file. */
export function encodeSafetensors(
  tensors: Record<string, { shape: number[]; data: Float32Array }>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const entries = Object.entries(tensors).map(([name, t]) => {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor "${name}": shape [${t.shape}] has ${count} elements, data has ${t.data.length}`);
    // Little-endian whatever the machine, as the format requires.
    const bytes = new Uint8Array(4 * count);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < count; i++) view.setFloat32(4 * i, t.data[i]!, true);
    return [name, { dtype: "F32", shape: t.shape, bytes }] as const;
  });
  return encodeSafetensorsBytes(entries, metadata);
}
