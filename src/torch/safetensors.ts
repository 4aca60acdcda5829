/**
 * safetensors files (huggingface/safetensors) to and from engine Tensors. The format itself
 * (header layout, validation, 8-byte aligned writing) is src/util/safetensors-format.ts; this
 * module maps its dtypes to the engine's, words its errors as `SafetensorsError`s, and moves
 * bytes in and out of Tensors. Files are written atomically (temp file + rename) so a crash
 * never leaves half a checkpoint.
 */
import { closeSync, openSync, readSync, fstatSync } from "node:fs";
import { tensor } from "./create.js";
import type { DType } from "./dtype.js";
import { Tensor, tidy } from "./tensor.js";
import { writeFileAtomic } from "../util/atomic.js";
import {
  describeSafetensorsProblem,
  encodeSafetensorsBytes,
  ENTRY_FIELD_PROBLEMS,
  parseSafetensorsBytes,
  type SafetensorsProblem,
} from "../util/safetensors-format.js";

const TO_ST: Partial<Record<DType, string>> = {
  float32: "F32",
  float64: "F64",
  bfloat16: "BF16",
  float16: "F16",
  int64: "I64",
  int32: "I32",
  bool: "BOOL",
  uint8: "U8",
};
const FROM_ST: Record<string, DType> = Object.fromEntries(Object.entries(TO_ST).map(([k, v]) => [v, k as DType]));
const SUPPORTED = Object.keys(FROM_ST);

export interface RawTensor {
  dtype: DType;
  shape: number[];
  /** The tensor's bytes (a view into the file buffer). */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

export class SafetensorsError extends Error {
  constructor(file: string, what: string) {
    super(`${file}: ${what}`);
    this.name = "SafetensorsError";
  }
}

/** Parses a whole file into raw tensors (no engine involved). */
export function readSafetensors(path: string): SafetensorsFile {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new SafetensorsError(path, `cannot open: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(size);
    let off = 0;
    while (off < size) off += readSync(fd, buf, off, size - off, off);
    return parseSafetensors(buf, path);
  } finally {
    closeSync(fd);
  }
}

export function parseSafetensors(buf: Uint8Array, file = "<buffer>"): SafetensorsFile {
  const parsed = parseSafetensorsBytes(buf, file, { dtypes: SUPPORTED, error: (p) => new SafetensorsError(file, wording(p)) });
  const tensors = new Map<string, RawTensor>();
  for (const [name, e] of parsed.tensors) tensors.set(name, { dtype: FROM_ST[e.dtype]!, shape: e.shape, bytes: e.bytes });
  return { tensors, metadata: parsed.metadata };
}

/** The engine's long-standing wording of the format's problems (callers and tests match on it). */
function wording(p: SafetensorsProblem): string {
  switch (p.kind) {
    case "short":
      return `truncated: ${p.bytes} bytes, the 8-byte header length is missing`;
    case "header-length":
      return `truncated: header says ${p.length} bytes of JSON but the file has ${p.available} after the length`;
    case "header-json":
      return `header is not valid JSON (${p.reason})`;
    case "entry":
      return `tensor "${p.tensor}": expected {dtype, shape, data_offsets} (${ENTRY_FIELD_PROBLEMS[p.field]})`;
    case "size":
      return `tensor "${p.tensor}": data_offsets span ${p.span} bytes but shape [${p.shape}] of ${p.dtype} needs ${p.need}`;
    case "past-end":
      return `truncated: tensor "${p.tensor}" ends at byte ${p.end} of the data but only ${p.available} bytes are present`;
    default:
      return describeSafetensorsProblem(p);
  }
}

/** Loads every tensor of a file into the engine (on `device`). The caller owns the result. */
export function loadSafetensors(path: string, device = "cpu"): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const file = readSafetensors(path);
  const tensors: Record<string, Tensor> = {};
  for (const [name, raw] of file.tensors) tensors[name] = rawToTensor(raw, device);
  return { tensors, metadata: file.metadata };
}

export function rawToTensor(raw: RawTensor, device = "cpu"): Tensor {
  // Copy into an aligned buffer: typed arrays need offsets aligned to their element size.
  const aligned = new Uint8Array(raw.bytes.byteLength);
  aligned.set(raw.bytes);
  const view = raw.dtype === "float32" ? new Float32Array(aligned.buffer)
    : raw.dtype === "float64" ? new Float64Array(aligned.buffer)
    : raw.dtype === "int64" ? new BigInt64Array(aligned.buffer)
    : raw.dtype === "int32" ? new Int32Array(aligned.buffer)
    : raw.dtype === "bfloat16" || raw.dtype === "float16" ? new Uint16Array(aligned.buffer)
    : aligned;
  return tensor(view, raw.shape, { dtype: raw.dtype, device });
}

/** Serialises tensors (any device; copied to host) into safetensors bytes. Names are sorted. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Buffer {
  const entries = Object.keys(tensors).sort().map((name) => {
    const t = tensors[name]!;
    const dtype = TO_ST[t.dtype];
    if (!dtype) throw new Error(`safetensors: tensor "${name}" has dtype ${t.dtype}, which the format cannot hold`);
    const data = t.data();
    return [name, { dtype, shape: t.shape, bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }] as const;
  });
  const bytes = encodeSafetensorsBytes(entries, metadata);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function saveSafetensors(path: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** For tidy-friendly callers: loads, runs fn, disposes what fn did not keep. */
export function withSafetensors<R>(path: string, fn: (t: Record<string, Tensor>) => R): R {
  return tidy(() => fn(loadSafetensors(path).tensors));
}
