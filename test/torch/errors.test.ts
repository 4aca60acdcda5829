/**
 * Bad input to the public API throws an Error that names the problem, and the process (and the
 * engine) carry on. Includes malformed safetensors files built byte by byte.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import * as torch from "../../src/torch/index.js";
import { SafetensorsError } from "../../src/torch/index.js";
import { assertThrowsMessage, checkNoLeaks, tempDir } from "./helpers.js";

checkNoLeaks();

/** A test whose body runs in tidy() and must throw an Error matching every pattern. */
function throwsTest(name: string, fn: () => unknown, patterns: RegExp[], opts: { todo?: string } = {}): void {
  test(name, opts, () => torch.tidy(() => void assertThrowsMessage(fn, ...patterns)));
}

describe("tensor API", () => {
  const r = (...shape: number[]) => torch.randn(shape);
  throwsTest("add with incompatible shapes names both sizes", () => r(3, 4).add(r(5, 4)), [/^add: /, /\(3\)/, /\(5\)/]);
  throwsTest("matmul with incompatible shapes names both shapes", () => r(3, 4).matmul(r(5, 4)), [/^matmul: /, /3x4 and 5x4/]);
  throwsTest("bmm of 2-d tensors", () => torch.bmm(r(3, 4), r(4, 3)), [/^bmm: /, /3D|3-D|dim/i]);
  throwsTest("linear with the wrong input width", () => torch.linear(r(2, 3), r(4, 5)), [/^linear: /, /2x3 and 5x4/]);
  throwsTest("cat of mismatched shapes", () => torch.cat([r(2, 3), r(2, 4)]), [/^cat: /, /Sizes of tensors must match/]);
  throwsTest("view of an impossible shape", () => r(2, 3).view(4, 2), [/^view: /, /shape '\[4, 2\]' is invalid for input of size 6/]);
  throwsTest("embedding with float indices names the index dtype", () => torch.embedding(r(4, 2), torch.tensor([0, 1])), [/^embedding: /, /indices/, /Long, Int/]);
  throwsTest("embedding with an out-of-range id", () => torch.embedding(r(4, 2), torch.int64([4])), [/^embedding: /, /index out of range/]);
  throwsTest("crossEntropy with float targets asks for int64", () => torch.crossEntropy(r(2, 3), torch.tensor([0, 1])), [/^crossEntropy: /, /targets must be int64/]);
  throwsTest("crossEntropy with 3-d logits asks for [N, V]", () => torch.crossEntropy(r(1, 2, 3), torch.int64([0, 1])), [/logits \[N, V\]/, /\[1, 2, 3\]/]);
  throwsTest("crossEntropy with targets of another length", () => torch.crossEntropy(r(2, 3), torch.int64([0, 1, 2])), [/targets \[3\] do not match logits \[2, 3\]/]);
  throwsTest("crossEntropy with a target outside the vocabulary", () => torch.crossEntropy(r(2, 3), torch.int64([0, 3])), [/index 3 is out of bounds/]);
  throwsTest("crossEntropy with weights of another length", () => torch.crossEntropy(r(2, 3), torch.int64([0, 1]), { weights: torch.ones([3]) }), [/weights \[3\] do not match targets \[2\]/]);
  throwsTest("tensor() with a buffer that does not match the shape names both sizes", () => torch.tensor([1, 2, 3], [2, 2]), [/^fromBuffer: /, /12 bytes/, /\[2, 2\]/, /needs 16/]);
  throwsTest("tensor() with a negative size", () => torch.tensor([], [-1, 0]), [/negative size/]);
  throwsTest("a Uint16Array without a dtype", () => torch.tensor(new Uint16Array(2)), [/ambiguous/, /bfloat16 or float16/]);
  throwsTest("item() on a multi-element tensor names its shape", () => r(3, 4).item(), [/^item: /, /one element/, /\[3, 4\]/]);
  throwsTest("backward on a tensor that does not require grad", () => r(2).sum().backward(), [/^backward: /, /does not require grad/]);
  throwsTest("backward on a non-scalar without a gradient", () => r(2).requiresGrad_().mul(2).backward(), [/gradient is needed for a non-scalar tensor of shape \[2\]/]);
  throwsTest("an in-place op on a leaf that requires grad", () => r(2).requiresGrad_().fill_(0), [/^fill_: /, /leaf Variable that requires grad/]);
  throwsTest("size() of a dim that does not exist", () => r(2, 3).size(2), [/dim 2 is out of range for a 2-d tensor/]);
  throwsTest("setRngState with something that is not a generator state", () => torch.setRngState(torch.zeros([3])), [/^setRngState: /, /ByteTensor/]);
  throwsTest("multinomial without replacement asking for more samples than categories", () => torch.multinomial(torch.tensor([0, 1, 0]), 4), [/^multinomial: /, /without replacement/]);
  throwsTest("multinomial with a negative probability", () => torch.multinomial(torch.tensor([0, -1, 2]), 1), [/^multinomial: /, /element < 0/]);
  throwsTest("multinomial with all-zero probabilities", () => torch.multinomial(torch.zeros([3]), 1), [/^multinomial: /, /sum of probabilities <= 0/]);

  throwsTest("attention with query heads not a multiple of key/value heads", () => torch.attention(r(1, 3, 2, 4), r(1, 2, 2, 4), r(1, 2, 2, 4)), [/query heads \(3\) must be a multiple of key\/value heads \(2\)/]);
  throwsTest("attention with 3-d inputs", () => torch.attention(r(3, 2, 4), r(3, 2, 4), r(3, 2, 4)), [/4-d q, k, v/]);
  throwsTest("attention with different batch sizes", () => torch.attention(r(2, 2, 2, 4), r(1, 2, 2, 4), r(1, 2, 2, 4)), [/batch sizes differ/]);
  throwsTest("attention with a different head dim in k", () => torch.attention(r(1, 2, 2, 4), r(1, 2, 2, 3), r(1, 2, 2, 3)), [/do not match q/]);
  throwsTest("attention with a mask of the wrong head count", () => torch.attention(r(1, 4, 2, 4), r(1, 2, 3, 4), r(1, 2, 3, 4), { mask: torch.ones([1, 2, 2, 3]) }), [/mask head dim must be 1 or 4, got 2/]);

  for (const grad of [false, true]) {
    throwsTest(
      `rmsNorm with a weight of the wrong size (${grad ? "training" : "inference"})`,
      () => {
        const x = r(2, 4);
        if (grad) x.requiresGrad_();
        return torch.rmsNorm(x, torch.ones([3]), 1e-6).toArray();
      },
      [/^rmsNorm: /],
      {},
    );
    throwsTest(
      `rope with an odd head dim (${grad ? "training" : "inference"})`,
      () => {
        const x = r(1, 1, 2, 3);
        if (grad) x.requiresGrad_();
        return torch.rope(x, torch.ones([1, 1, 2, 3]), torch.ones([1, 1, 2, 3])).toArray();
      },
      [/^rope: /],
      {},
    );
  }

  for (const [what, make] of [
    ["zeros", () => torch.zeros([2], { dtype: "float8" as never })],
    ["tensor", () => torch.tensor([1, 2], undefined, { dtype: "float8" as never })],
    ["to", () => torch.ones([2]).to("float8" as never)],
  ] as const) {
    throwsTest(`an unknown dtype string is named (${what})`, make, [/float8/]);
  }

  test("the engine keeps working after all of the above", () =>
    torch.tidy(() => {
      assert.deepEqual(torch.tensor([1, 2]).add(torch.tensor([3, 4])).toArray(), [4, 6]);
      const p = torch.ones([2]).requiresGrad_();
      p.mul(3).sum().backward();
      assert.deepEqual(p.grad!.toArray(), [3, 3]);
    }));

  test(
    "oneDNN-backed kernels (float32 gelu, bf16 matmul under autocast) do not abort the process (run in a child process)",
    () => {
      const index = new URL("../../src/torch/index.js", import.meta.url).href;
      const script = `import * as torch from ${JSON.stringify(index)};
        torch.tidy(() => {
          torch.randn([64]).gelu().sum().item();
          torch.autocast(() => torch.linear(torch.randn([64, 64]), torch.randn([64, 64]))).sum().item();
          torch.randn([64, 64]).to("bfloat16").matmul(torch.randn([64, 64]).to("bfloat16")).sum().item();
        });`;
      const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
      assert.equal(child.signal, null, `the child was killed by ${child.signal}: ${child.stderr.split("\n").slice(0, 2).join(" ")}`);
      assert.equal(child.status, 0, child.stderr);
    },
  );
});

// ---- safetensors -----------------------------------------------------------------------------

/** safetensors bytes: u64 LE header length, header (JSON text or an object), then data. */
function stBytes(header: string | object, data: Uint8Array = new Uint8Array(0), headerLength?: number): Buffer {
  const json = Buffer.from(typeof header === "string" ? header : JSON.stringify(header), "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLength ?? json.length));
  return Buffer.concat([len, json, data]);
}

describe("safetensors", () => {
  const dir = tempDir("gr2-st-errors-");
  /** Writes bytes to a file in the temp folder and returns its path. */
  const file = (name: string, bytes: Uint8Array) => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };
  /** Loading `path` throws a SafetensorsError naming the file and matching `pattern`. */
  const assertBadFile = (path: string, pattern: RegExp) =>
    torch.tidy(() => {
      const e = assertThrowsMessage(() => torch.loadSafetensors(path), pattern);
      assert.ok(e instanceof SafetensorsError, `expected a SafetensorsError, got ${e.name}`);
      assert.ok(e.message.startsWith(`${path}: `), `message should start with the path: ${e.message}`);
    });
  const f32 = (shape: number[], offsets: [number, number]) => ({ dtype: "F32", shape, data_offsets: offsets });

  test("a missing file names the path", () => assertBadFile(join(dir, "nope.safetensors"), /cannot open: ENOENT/));
  test("a file shorter than the 8-byte length is truncated", () => assertBadFile(file("tiny.st", new Uint8Array(5)), /truncated/));
  test("a header length past the end of the file is truncated", () => assertBadFile(file("hdr.st", stBytes({ a: f32([1], [0, 4]) }, new Uint8Array(4), 1000)), /truncated: header says 1000 bytes/));
  test("tensor data past the end of the file is truncated", () => assertBadFile(file("data.st", stBytes({ a: f32([4], [0, 16]) }, new Uint8Array(8))), /truncated: tensor "a" ends at byte 16 .* only 8 bytes/));
  test("an invalid JSON header", () => assertBadFile(file("json.st", stBytes('{"a": {"dtype": "F32",', new Uint8Array(0))), /header is not valid JSON/));
  test("an unsupported dtype is named, with the supported ones", () => assertBadFile(file("dtype.st", stBytes({ a: { dtype: "C64", shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8))), /tensor "a": unsupported dtype C64 \(supported: F32, F64, BF16, F16, I64, I32, BOOL, U8\)/));
  test("data_offsets inconsistent with the shape", () => assertBadFile(file("offsets.st", stBytes({ a: f32([2, 3], [0, 20]) }, new Uint8Array(24))), /tensor "a": data_offsets span 20 bytes but shape \[2,3\] of F32 needs 24/));
  test("an entry without dtype/shape/data_offsets", () => assertBadFile(file("entry.st", stBytes({ a: { dtype: "F32", shape: [1] } }, new Uint8Array(4))), /tensor "a": expected \{dtype, shape, data_offsets\}/));
  test("a header that is JSON null", () =>
    assertBadFile(file("null.st", stBytes("null")), /header/));
  test("a negative or fractional size in a shape", () =>
    assertBadFile(file("shape.st", stBytes({ a: f32([-1, -1], [0, 4]) }, new Uint8Array(4))), /shape/));
  test("overlapping data_offsets", () =>
    assertBadFile(file("overlap.st", stBytes({ a: f32([1], [0, 4]), b: f32([1], [0, 4]) }, new Uint8Array(4))), /offsets/));

  test("parseSafetensors names '<buffer>' when given no file name", () => {
    assert.throws(() => torch.parseSafetensors(new Uint8Array(3)), /^SafetensorsError: <buffer>: truncated/);
  });
});
