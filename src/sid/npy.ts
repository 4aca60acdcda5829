/**
 * NumPy's .npy format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
 *
 *   "\x93NUMPY", major, minor, header length (u16 LE for v1, u32 LE for v2/v3),
 *   header = a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (n, d), },
 *   then the raw array.
 *
 * We read float arrays ('<f4', '<f8', '<f2', and their big-endian '>' forms) in C order, which
 * is what `np.save(path, embeddings.astype(np.float32))` writes.
 */
import { type FloatKind, FLOAT_BYTES, decodeFloats } from "./floats.js";

export interface NpyArray {
  descr: string;
  shape: number[];
  data: Float32Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const KINDS: Record<string, FloatKind> = { f2: "f16", f4: "f32", f8: "f64" };

/** Parse a .npy buffer; `file` is only used in error messages. */
export function parseNpy(buf: Uint8Array, file: string): NpyArray {
  const fail = (msg: string): never => {
    throw new Error(`${file}: not a valid .npy file: ${msg}`);
  };
  if (buf.byteLength < 10 || !MAGIC.every((b, i) => buf[i] === b)) fail("missing the \\x93NUMPY magic string");
  const major = buf[6]!;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let headerLen: number, start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (buf.byteLength < 12) fail("truncated header");
    headerLen = view.getUint32(8, true);
    start = 12;
  } else {
    return fail(`unsupported format version ${major}.${buf[7]}`);
  }
  if (start + headerLen > buf.byteLength) fail(`header length ${headerLen} runs past the end of the file`);
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(buf.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1] ?? fail(`header has no 'descr': ${header.trim()}`);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1] ?? fail(`header has no 'fortran_order'`);
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1] ?? fail(`header has no 'shape'`);
  if (fortran === "True") fail("Fortran-order arrays are not supported; save with np.ascontiguousarray(x)");
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`bad shape (${shapeText})`);
  const m = /^([<>|=])(f[248])$/.exec(descr);
  if (!m) fail(`dtype '${descr}' is not supported; expected '<f4', '<f8' or '<f2'`);
  const kind = KINDS[m![2]!]!;
  const count = shape.reduce((a, b) => a * b, 1);
  const body = buf.subarray(start + headerLen);
  if (body.byteLength < count * FLOAT_BYTES[kind]) {
    fail(`shape (${shape.join(", ")}) of '${descr}' needs ${count * FLOAT_BYTES[kind]} data bytes, file has ${body.byteLength}`);
  }
  return { descr, shape, data: decodeFloats(body, kind, count, m![1] !== ">") };
}

/** Encode a float32 ('<f4') or float64 ('<f8') C-order array as .npy v1. */
export function encodeNpy(shape: number[], data: Float32Array | Float64Array): Uint8Array {
  const descr = data instanceof Float64Array ? "<f8" : "<f4";
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Pad with spaces so that magic + length + header + "\n" is a multiple of 64, as NumPy does.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header + " ".repeat(total - 10 - header.length - 1) + "\n";
  const bytes = new Uint8Array(total + data.byteLength);
  bytes.set(MAGIC, 0);
  bytes[6] = 1;
  bytes[7] = 0;
  new DataView(bytes.buffer).setUint16(8, header.length, true);
  bytes.set(new TextEncoder().encode(header), 10);
  const view = new DataView(bytes.buffer);
  const size = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < data.length; i++) {
    if (size === 8) view.setFloat64(total + 8 * i, data[i]!, true);
    else view.setFloat32(total + 4 * i, data[i]!, true);
  }
  return bytes;
}
