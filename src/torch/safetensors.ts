/**
 * The safetensors format (huggingface/safetensors), read and written in TypeScript:
 *   8 bytes   little-endian u64 N, the header's length
 *   N bytes   JSON header: { "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
 *                            "__metadata__": {"key": "string", ...} }
 *   rest      raw little-endian tensor data; offsets are relative to the end of the header.
 * Files are written atomically (temp file + rename) so a crash never leaves half a checkpoint.
 */
import { closeSync, openSync, readSync, fstatSync } from "node:fs";
import { tensor } from "./create.js";
import type { DType } from "./dtype.js";
import { Tensor, tidy } from "./tensor.js";
import { writeFileAtomic } from "../util/atomic.js";

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
const WIDTH: Record<string, number> = { F32: 4, F64: 8, BF16: 2, F16: 2, I64: 8, I32: 4, BOOL: 1, U8: 1 };

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
  if (buf.byteLength < 8) throw new SafetensorsError(file, `truncated: ${buf.byteLength} bytes, the 8-byte header length is missing`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (8 + n > buf.byteLength) throw new SafetensorsError(file, `truncated: header says ${n} bytes of JSON but the file has ${buf.byteLength - 8} after the length`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 8, n).toString("utf8"));
  } catch (e) {
    throw new SafetensorsError(file, `header is not valid JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + n;
  const dataLen = buf.byteLength - dataStart;
  const tensors = new Map<string, RawTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (!e || typeof e.dtype !== "string" || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
      throw new SafetensorsError(file, `tensor "${name}": expected {dtype, shape, data_offsets}`);
    }
    const dtype = FROM_ST[e.dtype];
    if (!dtype) throw new SafetensorsError(file, `tensor "${name}": unsupported dtype ${e.dtype} (supported: ${Object.keys(FROM_ST).join(", ")})`);
    const [begin, end] = e.data_offsets;
    const numel = e.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== numel * WIDTH[e.dtype]!) {
      throw new SafetensorsError(file, `tensor "${name}": data_offsets span ${end - begin} bytes but shape [${e.shape}] of ${e.dtype} needs ${numel * WIDTH[e.dtype]!}`);
    }
    if (begin < 0 || end > dataLen) throw new SafetensorsError(file, `truncated: tensor "${name}" ends at byte ${end} of the data but only ${dataLen} bytes are present`);
    tensors.set(name, { dtype, shape: e.shape, bytes: new Uint8Array(buf.buffer, buf.byteOffset + dataStart + begin, end - begin) });
  }
  return { tensors, metadata };
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
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    const st = TO_ST[t.dtype];
    if (!st) throw new Error(`safetensors: tensor "${name}" has dtype ${t.dtype}, which the format cannot hold`);
    const data = t.data();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    header[name] = { dtype: st, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([head, Buffer.from(json, "utf8"), ...chunks]);
}

export function saveSafetensors(path: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** For tidy-friendly callers: loads, runs fn, disposes what fn did not keep. */
export function withSafetensors<R>(path: string, fn: (t: Record<string, Tensor>) => R): R {
  return tidy(() => fn(loadSafetensors(path).tensors));
}
