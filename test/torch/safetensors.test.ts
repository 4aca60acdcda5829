/**
 * safetensors: round trips of every dtype, the byte layout our writer produces (checked by a
 * small independent reader written here from the spec), a file written byte by byte from the
 * spec (not by our writer), and atomic saves.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import * as torch from "../../src/torch/index.js";
import type { Tensor } from "../../src/torch/index.js";
import { checkNoLeaks, tempDir } from "./helpers.js";

checkNoLeaks();

const dir = tempDir("gr2-st-");

/** Every dtype the format holds, plus a 0-d and an empty tensor. */
function sampleTensors(): Record<string, Tensor> {
  torch.manualSeed(3);
  return {
    f32: torch.randn([2, 3]),
    f64: torch.tensor([0.1, -1e300, Number.MIN_VALUE], [3], { dtype: "float64" }),
    bf16: torch.randn([2, 2]).to("bfloat16"),
    f16: torch.tensor([1.5, -0.25, 65504, 6e-5], [4], { dtype: "float16" }),
    i64: torch.tensor(new BigInt64Array([-1n, 1n << 40n, -(1n << 62n)])),
    i32: torch.tensor(new Int32Array([-(2 ** 31), 7, 2 ** 31 - 1, 0]), [2, 2]),
    bool: torch.tensor([1, 0, 1], [3], { dtype: "bool" }),
    u8: torch.tensor(new Uint8Array([0, 128, 255])),
    scalar: torch.tensor([42], []),
    empty: torch.zeros([0, 2]),
  };
}
const ST_DTYPE: Record<string, string> = { f32: "F32", f64: "F64", bf16: "BF16", f16: "F16", i64: "I64", i32: "I32", bool: "BOOL", u8: "U8", scalar: "F32", empty: "F32" };

/** Raw little-endian bytes of a tensor's values. */
const bytesOf = (t: Tensor) => {
  const d = t.data();
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
};

/** A minimal reader written from the spec, independent of src/torch/safetensors.ts. */
function specRead(buf: Buffer): { headerLength: number; header: Record<string, any>; data: Buffer } {
  const headerLength = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLength).toString("utf8"));
  return { headerLength, header, data: buf.subarray(8 + headerLength) };
}

test("every dtype round-trips bit-exactly through save/load, with metadata", () =>
  torch.tidy(() => {
    const path = join(dir, "all.safetensors");
    const original = sampleTensors();
    torch.saveSafetensors(path, original, { format: "pt", step: "42" });
    const { tensors, metadata } = torch.loadSafetensors(path);
    assert.deepEqual(metadata, { format: "pt", step: "42" });
    assert.deepEqual(Object.keys(tensors).sort(), Object.keys(original).sort());
    for (const [name, t] of Object.entries(original)) {
      const back = tensors[name]!;
      assert.equal(back.dtype, t.dtype, name);
      assert.deepEqual(back.shape, t.shape, name);
      assert.deepEqual(bytesOf(back), bytesOf(t), `${name} bytes`);
    }
    assert.deepEqual(tensors.i64!.toArray(), [-1, 2 ** 40, -(2 ** 62)]);
  }));

test("the writer's byte layout follows the spec: u64 LE header length, dtype/shape/data_offsets, 8-byte aligned data", () =>
  torch.tidy(() => {
    const original = sampleTensors();
    const buf = torch.encodeSafetensors(original, { format: "pt" });
    const { headerLength, header, data } = specRead(buf);
    assert.equal((8 + headerLength) % 8, 0, "data starts 8-byte aligned");
    assert.deepEqual(header.__metadata__, { format: "pt" });
    const names = Object.keys(original).sort();
    let offset = 0;
    for (const name of names) {
      const t = original[name]!;
      const entry = header[name];
      assert.deepEqual(Object.keys(entry).sort(), ["data_offsets", "dtype", "shape"], name);
      assert.equal(entry.dtype, ST_DTYPE[name]);
      assert.deepEqual(entry.shape, t.shape);
      assert.deepEqual(entry.data_offsets, [offset, offset + bytesOf(t).byteLength], `${name} offsets are contiguous, in name order`);
      assert.deepEqual(data.subarray(offset, entry.data_offsets[1]), bytesOf(t), `${name} data`);
      offset = entry.data_offsets[1];
    }
    assert.equal(data.byteLength, offset, "no bytes after the last tensor");
    // Values are little-endian regardless of the tensor: check one by hand.
    const f32 = header.f32.data_offsets[0] as number;
    assert.equal(data.readFloatLE(f32), original.f32!.toArray()[0]);
    assert.equal(Object.keys(torch.parseSafetensors(torch.encodeSafetensors({ a: torch.ones([1]) })).metadata).length, 0, "no __metadata__ without metadata");
    assert.equal(specRead(torch.encodeSafetensors({ a: torch.ones([1]) })).header.__metadata__, undefined);
  }));

test("a non-contiguous tensor is written in row-major order", () =>
  torch.tidy(() => {
    const t = torch.tensor([1, 2, 3, 4, 5, 6], [2, 3]).T;
    const { header, data } = specRead(torch.encodeSafetensors({ t }));
    assert.deepEqual(header.t.shape, [3, 2]);
    assert.deepEqual(Array.from(new Float32Array(new Uint8Array(data).buffer)), [1, 4, 2, 5, 3, 6]);
  }));

test("reads a file written byte by byte from the spec (unsorted entries, unaligned data, no padding)", () =>
  torch.tidy(() => {
    // Data section: I64 [3] at 0, F32 [2,2] at 24, BF16 [2] at 40, BOOL [3] at 44, F64 [1] at 47 (unaligned), U8 [2] at 55.
    const data = Buffer.alloc(57);
    [5n, -6n, 1n << 50n].forEach((v, i) => data.writeBigInt64LE(v, i * 8));
    [1.5, -2, 0.25, 8].forEach((v, i) => data.writeFloatLE(v, 24 + i * 4));
    data.writeUInt16LE(0x3f80, 40); // bf16 1.0
    data.writeUInt16LE(0xc0a0, 42); // bf16 -5.0
    data.set([1, 0, 1], 44);
    data.writeDoubleLE(Math.PI, 47);
    data.set([9, 250], 55);
    const header =
      '{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[24,40]},' +
      '"__metadata__":{"source":"hand-written"},' +
      '"ids":{"dtype":"I64","shape":[3],"data_offsets":[0,24]},' +
      '"h":{"dtype":"BF16","shape":[2],"data_offsets":[40,44]},' +
      '"m":{"dtype":"BOOL","shape":[3],"data_offsets":[44,47]},' +
      '"x":{"dtype":"F64","shape":[],"data_offsets":[47,55]},' +
      '"u":{"dtype":"U8","shape":[1,2],"data_offsets":[55,57]}}';
    const length = Buffer.alloc(8);
    length.writeUInt32LE(Buffer.byteLength(header), 0); // low half of the u64; the high half stays 0
    const path = join(dir, "hand.safetensors");
    writeFileSync(path, Buffer.concat([length, Buffer.from(header), data]));

    const { tensors, metadata } = torch.loadSafetensors(path);
    assert.deepEqual(metadata, { source: "hand-written" });
    const summary = Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, values: t.toArray() }]));
    assert.deepEqual(summary, {
      w: { dtype: "float32", shape: [2, 2], values: [1.5, -2, 0.25, 8] },
      ids: { dtype: "int64", shape: [3], values: [5, -6, 2 ** 50] },
      h: { dtype: "bfloat16", shape: [2], values: [1, -5] },
      m: { dtype: "bool", shape: [3], values: [1, 0, 1] },
      x: { dtype: "float64", shape: [], values: [Math.PI] },
      u: { dtype: "uint8", shape: [1, 2], values: [9, 250] },
    });

    // The same bytes inside a larger buffer, at an odd offset, parse the same way.
    const file = readFileSync(path);
    const shifted = Buffer.concat([Buffer.alloc(3), file]).subarray(3);
    const parsed = torch.parseSafetensors(shifted, "shifted");
    assert.deepEqual([...parsed.tensors.keys()], ["w", "ids", "h", "m", "x", "u"]);
    assert.equal(torch.rawToTensor(parsed.tensors.get("x")!).item(), Math.PI);
  }));

test("saves are atomic: no temp files are left behind, overwrites replace, missing folders are created", () =>
  torch.tidy(() => {
    const folder = join(dir, "atomic", "nested");
    const path = join(folder, "model.safetensors");
    torch.saveSafetensors(path, { a: torch.ones([2]) });
    assert.deepEqual(readdirSync(folder), ["model.safetensors"]);
    torch.saveSafetensors(path, { b: torch.zeros([3], { dtype: "int32" }) }, { version: "2" });
    assert.deepEqual(readdirSync(folder), ["model.safetensors"]);
    const { tensors, metadata } = torch.loadSafetensors(path);
    assert.deepEqual(Object.keys(tensors), ["b"]);
    assert.deepEqual(metadata, { version: "2" });
    assert.deepEqual(tensors.b!.toArray(), [0, 0, 0]);
  }));

test("a failed save (a disposed tensor) leaves neither the file nor a temp file", () =>
  torch.tidy(() => {
    const folder = join(dir, "failed");
    const path = join(folder, "x.safetensors");
    const gone = torch.ones([1]);
    gone.dispose();
    assert.throws(() => torch.saveSafetensors(path, { gone }), /disposed/);
    assert.equal(existsSync(path), false);
    assert.deepEqual(existsSync(folder) ? readdirSync(folder) : [], []);
  }));

test("withSafetensors frees what it loaded and returns fn's result", () => {
  const path = join(dir, "with.safetensors");
  torch.tidy(() => torch.saveSafetensors(path, { a: torch.tensor([1, 2, 3]), b: torch.ones([2]) }));
  const start = torch.liveTensors();
  const sum = torch.withSafetensors(path, (t) => t.a!.sum().item() + t.b!.sum().item());
  assert.equal(sum, 8);
  assert.equal(torch.liveTensors(), start);
});
