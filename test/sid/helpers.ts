/** Shared by the SID tests: temporary folders, seeded synthetic embeddings, raw file builders. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { type Matrix, zeros } from "../../src/sid/matrix.js";
import { Rng } from "../../src/sid/rng.js";
import { sidCommand } from "../../src/cli/sid.js";

/** Runs `gr2 sid …` capturing stdout and stderr. */
export async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "", err = "";
  const code = await sidCommand(args, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

/** A fresh temporary folder, removed when the test file ends. */
export function tempDir(prefix = "gr2-sid-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `clusters` Gaussian blobs of `perCluster` points in `dim` dimensions; rows grouped by cluster. */
export function gaussianBlobs(opts: { clusters: number; perCluster: number; dim: number; spread?: number; seed?: number }): {
  x: Matrix;
  labels: number[];
} {
  const { clusters, perCluster, dim, spread = 0.05, seed = 1 } = opts;
  const rng = new Rng(seed);
  const centres = Array.from({ length: clusters }, () => Array.from({ length: dim }, () => rng.normal()));
  const x = zeros(clusters * perCluster, dim);
  const labels: number[] = [];
  for (let c = 0; c < clusters; c++) {
    for (let p = 0; p < perCluster; p++) {
      const i = c * perCluster + p;
      for (let j = 0; j < dim; j++) x.data[i * dim + j] = centres[c]![j]! + spread * rng.normal();
      labels.push(c);
    }
  }
  return { x, labels };
}

/** Squared Euclidean distance between rows i and j. */
export function sqDist(m: Matrix, i: number, j: number): number {
  let s = 0;
  for (let k = 0; k < m.cols; k++) s += (m.data[i * m.cols + k]! - m.data[j * m.cols + k]!) ** 2;
  return s;
}

/** Cosine similarity between rows i and j. */
export function cosine(m: Matrix, i: number, j: number): number {
  let dot = 0, a = 0, b = 0;
  for (let k = 0; k < m.cols; k++) {
    const x = m.data[i * m.cols + k]!, y = m.data[j * m.cols + k]!;
    dot += x * y;
    a += x * x;
    b += y * y;
  }
  return a === 0 || b === 0 ? 0 : dot / Math.sqrt(a * b);
}

/** number → IEEE binary16 bits (round to nearest; only for normal, moderate test values). */
export function floatToHalf(v: number): number {
  if (v === 0) return 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const e = Math.floor(Math.log2(a));
  const frac = Math.round((a / Math.pow(2, e) - 1) * 1024);
  return sign | ((e + 15) << 10) | frac;
}

/** A safetensors file from a raw header object and raw data bytes (for dtypes our writer lacks, and broken files). */
export function rawSafetensors(header: unknown, data: Uint8Array, headerText?: string): Buffer {
  const json = Buffer.from(headerText ?? JSON.stringify(header), "utf8");
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, 8 + json.length);
  return out;
}
