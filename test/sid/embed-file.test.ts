import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { readEmbeddingFile } from "../../src/sid/embed-file.js";
import { parseSafetensors, encodeSafetensors } from "../../src/sid/safetensors.js";
import { parseNpy, encodeNpy } from "../../src/sid/npy.js";
import { halfToFloat, bfloat16ToFloat } from "../../src/sid/floats.js";
import { tempDir, floatToHalf, rawSafetensors } from "./helpers.js";

const IDS = ["a", "b", "c"];
const ROWS = [[1, 2], [3, 4], [5, -6]];
const FLAT = ROWS.flat();

function write(dir: string, name: string, content: Uint8Array | string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

/** Little-endian bytes of `values` in a 2-byte format given by `encode`. */
function u16(values: number[], encode: (v: number) => number): Uint8Array {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeUInt16LE(encode(v), i * 2));
  return b;
}

test("float16 and bfloat16 decode exactly for representable values", () => {
  for (const v of [0, 1, -2, 0.5, 65504, 6.103515625e-5]) assert.equal(halfToFloat(floatToHalf(v)), v);
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  assert.equal(halfToFloat(0x0001), 2 ** -24); // smallest subnormal
  assert.equal(bfloat16ToFloat(0x3f80), 1);
  assert.equal(bfloat16ToFloat(0xc040), -3);
});

test("safetensors: F32 (our writer), F16, BF16 and F64 read in catalogue order", async () => {
  const dir = tempDir();
  const f32 = write(dir, "e32.safetensors", encodeSafetensors({ embeddings: { shape: [3, 2], data: Float32Array.from(FLAT) } }));
  const f64Bytes = new Uint8Array(Float64Array.from(FLAT).buffer);
  const f64 = write(dir, "e64.safetensors", rawSafetensors({ e: { dtype: "F64", shape: [3, 2], data_offsets: [0, 48] } }, f64Bytes));
  const f16 = write(dir, "e16.safetensors", rawSafetensors({ e: { dtype: "F16", shape: [3, 2], data_offsets: [0, 12] } }, u16(FLAT, floatToHalf)));
  const bf16Bits = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0]! >>> 16;
  const bf16 = write(dir, "ebf.safetensors", rawSafetensors({ e: { dtype: "BF16", shape: [3, 2], data_offsets: [0, 12] } }, u16(FLAT, bf16Bits)));
  for (const p of [f32, f64, f16, bf16]) {
    const r = await readEmbeddingFile(p, { ids: IDS });
    assert.equal(r.format, "safetensors");
    assert.deepEqual(Array.from(r.embeddings.data), FLAT, p);
  }
});

test("safetensors: ids from __metadata__ or an ids file reorder rows; the tensor can be named", async () => {
  const dir = tempDir();
  const reversed = ROWS.slice().reverse().flat();
  const withIds = write(dir, "ids.safetensors", encodeSafetensors(
    { vectors: { shape: [3, 2], data: Float32Array.from(reversed) }, other: { shape: [2, 2], data: new Float32Array(4) } },
    { ids: JSON.stringify(["c", "b", "a"]) },
  ));
  const r = await readEmbeddingFile(withIds, { ids: IDS, tensor: "vectors" });
  assert.deepEqual(Array.from(r.embeddings.data), FLAT);
  const plain = write(dir, "plain.safetensors", encodeSafetensors({ x: { shape: [4, 2], data: Float32Array.from([...reversed, 9, 9]) } }));
  const idsFile = write(dir, "ids.txt", "c\nb\na\nzzz\n");
  const r2 = await readEmbeddingFile(plain, { ids: IDS, idsFile });
  assert.deepEqual(Array.from(r2.embeddings.data), FLAT);
  assert.equal(r2.extraRows, 1);
});

test("malformed safetensors files fail with the file name and the problem", async () => {
  const dir = tempDir();
  const data = new Uint8Array(24);
  const cases: [string, Uint8Array, RegExp][] = [
    ["short.safetensors", new Uint8Array(4), /too short for the 8-byte header length/],
    ["len.safetensors", (() => { const b = Buffer.alloc(16); b.writeBigUInt64LE(1000n); return b; })(), /header length 1000 exceeds the 8 bytes/],
    ["json.safetensors", rawSafetensors(null, data, "{not json"), /header is not valid UTF-8 JSON/],
    ["shape.safetensors", rawSafetensors({ e: { dtype: "F32", shape: [3, 3], data_offsets: [0, 24] } }, data), /tensor "e": shape \[3, 3\] of F32 needs 36 bytes, data_offsets span 24/],
    ["past.safetensors", rawSafetensors({ e: { dtype: "F32", shape: [3, 4], data_offsets: [0, 48] } }, data), /data_offsets end 48 is past the 24 data bytes/],
    ["dtype.safetensors", rawSafetensors({ e: { dtype: "I32", shape: [3, 2], data_offsets: [0, 24] } }, data), /no 2-D float tensor \(e\)/],
    ["rank.safetensors", rawSafetensors({ e: { dtype: "F32", shape: [6], data_offsets: [0, 24] } }, data), /no 2-D float tensor/],
    ["rows.safetensors", rawSafetensors({ e: { dtype: "F32", shape: [2, 3], data_offsets: [0, 24] } }, data), /has 2 rows but the catalogue has 3 items; give an ids file/],
  ];
  for (const [name, bytes, expected] of cases) {
    const p = write(dir, name, bytes);
    await assert.rejects(readEmbeddingFile(p, { ids: IDS }), (e: Error) => e.message.startsWith(p) && expected.test(e.message), name);
  }
  const p = write(dir, "i32.safetensors", rawSafetensors({ e: { dtype: "I32", shape: [3, 2], data_offsets: [0, 24] } }, data));
  await assert.rejects(readEmbeddingFile(p, { ids: IDS, tensor: "e" }), /tensor "e" has dtype I32; supported: F32, F16, BF16, F64/);
  await assert.rejects(readEmbeddingFile(p, { ids: IDS, tensor: "nope" }), /no tensor "nope" \(has: e\)/);
  assert.throws(() => parseSafetensors(new Uint8Array(0), "x.st"), /^Error: x\.st: not a valid safetensors file/);
});

test(".npy: '<f4', '<f8', '<f2' and big-endian, v1 and v2 headers", async () => {
  const dir = tempDir();
  const f4 = write(dir, "e4.npy", encodeNpy([3, 2], Float32Array.from(FLAT)));
  const f8 = write(dir, "e8.npy", encodeNpy([3, 2], Float64Array.from(FLAT)));
  const npy = (descr: string, body: Uint8Array, version = 1) => {
    const header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (3, 2), }\n`;
    const pre = Buffer.alloc(version === 1 ? 10 : 12);
    Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(pre);
    if (version === 1) pre.writeUInt16LE(header.length, 8);
    else pre.writeUInt32LE(header.length, 8);
    return Buffer.concat([pre, Buffer.from(header, "latin1"), body]);
  };
  const f2 = write(dir, "e2.npy", npy("<f2", u16(FLAT, floatToHalf), 2));
  const be = Buffer.alloc(24);
  FLAT.forEach((v, i) => be.writeFloatBE(v, i * 4));
  const big = write(dir, "be.npy", npy(">f4", be));
  for (const p of [f4, f8, f2, big]) assert.deepEqual(Array.from((await readEmbeddingFile(p, { ids: IDS })).embeddings.data), FLAT, p);
  assert.deepEqual(parseNpy(encodeNpy([2], Float32Array.of(1, 2)), "v.npy").shape, [2]);

  const bad: [string, Uint8Array, RegExp][] = [
    ["magic.npy", Buffer.from("not numpy at all"), /missing the \\x93NUMPY magic string/],
    ["int.npy", npy("<i4", new Uint8Array(24)), /dtype '<i4' is not supported; expected '<f4', '<f8' or '<f2'/],
    ["fortran.npy", Buffer.from(npy("<f4", new Uint8Array(24)).toString("latin1").replace("False", "True "), "latin1"), /Fortran-order arrays are not supported/],
    ["short.npy", npy("<f4", new Uint8Array(10)), /needs 24 data bytes, file has 10/],
    ["version.npy", (() => { const b = npy("<f4", new Uint8Array(24)); b[6] = 7; return b; })(), /unsupported format version 7\.0/],
  ];
  for (const [name, bytes, expected] of bad) {
    const p = write(dir, name, bytes);
    await assert.rejects(readEmbeddingFile(p, { ids: IDS }), (e: Error) => e.message.startsWith(`${p}: not a valid .npy file`) && expected.test(e.message), name);
  }
  const oneD = write(dir, "oned.npy", encodeNpy([6], Float32Array.from(FLAT)));
  await assert.rejects(readEmbeddingFile(oneD, { ids: IDS }), /must be 2-D \(items × dim\), got shape \[6\]/);
});

test("JSONL: rows mapped to items by id; extra ids ignored and counted", async () => {
  const dir = tempDir();
  const lines = [
    JSON.stringify({ id: "c", embedding: ROWS[2] }),
    "",
    JSON.stringify({ id: "zzz", embedding: [0, 0] }),
    JSON.stringify({ id: "a", embedding: ROWS[0] }),
    JSON.stringify({ id: "b", embedding: ROWS[1] }),
  ];
  const p = write(dir, "e.jsonl", lines.join("\n") + "\n");
  const r = await readEmbeddingFile(p, { ids: IDS });
  assert.equal(r.format, "jsonl");
  assert.deepEqual(Array.from(r.embeddings.data), FLAT);
  assert.equal(r.extraRows, 1);
});

test("malformed JSONL fails naming the file and line", async () => {
  const dir = tempDir();
  const a = JSON.stringify({ id: "a", embedding: [1, 2] });
  const cases: [string, RegExp][] = [
    [`${a}\n{oops`, /e\.jsonl:2: not valid JSON/],
    [`${a}\n{"embedding": [1, 2]}`, /e\.jsonl:2: missing "id"/],
    [`${a}\n{"id": "b", "embedding": [1, "x"]}`, /e\.jsonl:2: "embedding"\[1\] is not a finite number/],
    [`${a}\n{"id": "b", "embedding": [1, 2, 3]}`, /e\.jsonl:2: embedding has 3 values, earlier lines have 2/],
    [`${a}\n{"id": "b", "embedding": []}`, /e\.jsonl:2: "embedding" must be a non-empty array/],
    [`${a}\n${a}`, /e\.jsonl: id "a" appears twice \(rows 1 and 2\)/],
    [`${a}\n`, /e\.jsonl: 2 of 3 catalogue items have no embedding \(first: b, c\)/],
    [``, /e\.jsonl: no embeddings \(empty file\)/],
  ];
  for (const [text, expected] of cases) {
    const p = write(dir, "e.jsonl", text);
    await assert.rejects(readEmbeddingFile(p, { ids: IDS }), expected);
  }
  await assert.rejects(readEmbeddingFile(join(dir, "e.txt"), { ids: IDS }), /e\.txt: unknown embedding file type; expected \.safetensors, \.npy or \.jsonl/);
  await assert.rejects(readEmbeddingFile(join(dir, "gone.npy"), { ids: IDS }), /gone\.npy: cannot read embedding file \(ENOENT\)/);
});
