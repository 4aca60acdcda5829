/**
 * The safetensors file format (https://github.com/huggingface/safetensors), read and written
 * with no dependencies:
 *
 *   8 bytes   little-endian u64 N = header length
 *   N bytes   UTF-8 JSON: { "<name>": {"dtype": "F32", "shape": [r, c], "data_offsets": [b, e]}, …,
 *                           "__metadata__": {"<key>": "<string>"} (optional) }
 *   rest      raw little-endian tensor bytes; offsets are relative to the start of this part
 *
 * Only floating-point tensors are decoded (F32, F16, BF16, F64 → Float32Array), and only the
 * ones asked for, so a file that also holds e.g. an I64 ids tensor still reads. Every problem
 * is reported with the file name and the tensor concerned. (src/torch has the engine's own
 * safetensors I/O for checkpoints; this one is typed-array only so SIDs build without it.)
 */
import { type FloatKind, FLOAT_BYTES, decodeFloats } from "./floats.js";

export interface FloatTensor {
  dtype: string;
  shape: number[];
  data: Float32Array;
}

export interface TensorInfo {
  dtype: string;
  shape: number[];
  /** Byte range inside the data part. */
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  /** Every tensor's header entry, in header order. */
  infos: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** Decode one tensor to float32 (throws for non-float dtypes). */
  read(name: string): FloatTensor;
}

const DTYPES: Record<string, FloatKind> = { F32: "f32", F16: "f16", BF16: "bf16", F64: "f64" };
/** Element sizes of dtypes we do not decode but must still size-check. */
const OTHER_BYTES: Record<string, number> = { I8: 1, U8: 1, BOOL: 1, I16: 2, U16: 2, I32: 4, U32: 4, I64: 8, U64: 8, F8_E4M3: 1, F8_E5M2: 1 };

/** Parse a safetensors buffer; `file` is only used in error messages. */
export function parseSafetensors(buf: Uint8Array, file: string): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new Error(`${file}: not a valid safetensors file: ${msg}`);
  };
  if (buf.byteLength < 8) fail(`it is ${buf.byteLength} bytes, too short for the 8-byte header length`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen > BigInt(buf.byteLength - 8)) {
    fail(`header length ${headerLen} exceeds the ${buf.byteLength - 8} bytes after the length field`);
  }
  const n = Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(8, 8 + n)));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail("header is not a JSON object");
  const data = buf.subarray(8 + n);
  const infos = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof raw !== "object" || raw === null) fail(`"__metadata__" is not an object`);
      metadata = raw as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== "object" || e === null) fail(`tensor "${name}": entry is not an object`);
    if (typeof e.dtype !== "string") fail(`tensor "${name}": missing "dtype"`);
    const dtype = e.dtype as string;
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(`tensor "${name}": "shape" must be an array of non-negative integers`);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[1] < off[0]) {
      fail(`tensor "${name}": "data_offsets" must be [begin, end] with 0 ≤ begin ≤ end`);
    }
    const [begin, end] = off as [number, number];
    if (end > data.byteLength) fail(`tensor "${name}": data_offsets end ${end} is past the ${data.byteLength} data bytes`);
    const elemBytes = DTYPES[dtype] ? FLOAT_BYTES[DTYPES[dtype]!] : OTHER_BYTES[dtype];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (elemBytes !== undefined && count * elemBytes !== end - begin) {
      fail(`tensor "${name}": shape [${(shape as number[]).join(", ")}] of ${dtype} needs ${count * elemBytes} bytes, data_offsets span ${end - begin}`);
    }
    infos.set(name, { dtype, shape: shape as number[], begin, end });
  }
  return {
    infos,
    metadata,
    read(name: string): FloatTensor {
      const info = infos.get(name);
      if (!info) throw new Error(`${file}: no tensor "${name}" (has: ${[...infos.keys()].join(", ") || "none"})`);
      const kind = DTYPES[info.dtype];
      if (!kind) throw new Error(`${file}: tensor "${name}" has dtype ${info.dtype}; supported: ${Object.keys(DTYPES).join(", ")}`);
      const count = info.shape.reduce((a, b) => a * b, 1);
      return { dtype: info.dtype, shape: info.shape, data: decodeFloats(data.subarray(info.begin, info.end), kind, count) };
    },
  };
}

/** Encode float32 tensors (and string metadata) as a safetensors file. */
export function encodeSafetensors(
  tensors: Record<string, { shape: number[]; data: Float32Array }>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor "${name}": shape [${t.shape}] has ${count} elements, data has ${t.data.length}`);
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  // Pad the header with spaces to a multiple of 8 so the data part is 8-byte aligned (as the
  // reference implementation does), letting readers map it without copying.
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(padded - json.length));
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let o = 8 + json.length;
  for (const t of Object.values(tensors)) {
    for (let i = 0; i < t.data.length; i++, o += 4) view.setFloat32(o, t.data[i]!, true);
  }
  return out;
}
