/**
 * Reading a TF.js graph model's weights (model.json + binary shards) without TF.js.
 *
 * The format (tfjs-converter's `weightsManifest`): a list of groups, each with `paths` (shard
 * files, read in order and concatenated) and `weights` ({name, shape, dtype}, laid out back to
 * back in that concatenation, little-endian, C order). A weight's byte size is the product of
 * its shape times its dtype's size, so offsets follow from the order alone; the total must
 * equal the shards' size, which catches a truncated or mismatched shard.
 *
 * Only what USE-Lite's package holds is supported: float32 and int32, unquantised. Anything
 * else is refused by name rather than misread.
 */
import { readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";

export interface GraphWeight {
  name: string;
  dtype: "float32" | "int32";
  shape: number[];
  data: Float32Array | Int32Array;
}

/** One node of the graph (op, inputs, attributes as the converter wrote them). */
export interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
}

export interface GraphModel {
  /** model.json's path, for error messages. */
  file: string;
  nodes: GraphNode[];
  weights: Map<string, GraphWeight>;
}

interface ManifestWeight {
  name?: unknown;
  shape?: unknown;
  dtype?: unknown;
  quantization?: unknown;
}

const BYTES: Record<string, number> = { float32: 4, int32: 4 };

/** Parse model.json and read every weight from its shards (paths relative to model.json). */
export function readGraphModel(modelJson: string): GraphModel {
  let json: { modelTopology?: { node?: GraphNode[] }; weightsManifest?: { paths?: unknown; weights?: ManifestWeight[] }[] };
  try {
    json = JSON.parse(readFileSync(modelJson, "utf8"));
  } catch (e) {
    throw new Error(`${modelJson}: cannot read the TF.js model description: ${(e as Error).message}`);
  }
  const nodes = json.modelTopology?.node;
  if (!Array.isArray(nodes)) throw new Error(`${modelJson}: no modelTopology.node list (not a TF.js graph model)`);
  const groups = json.weightsManifest;
  if (!Array.isArray(groups) || groups.length === 0) throw new Error(`${modelJson}: no weightsManifest`);

  const weights = new Map<string, GraphWeight>();
  groups.forEach((group, g) => {
    const where = `${modelJson}: weightsManifest[${g}]`;
    if (!Array.isArray(group.paths) || !group.paths.every((p) => typeof p === "string")) throw new Error(`${where}.paths is not a list of file names`);
    if (!Array.isArray(group.weights)) throw new Error(`${where}.weights is not a list`);
    const paths = (group.paths as string[]).map((p) => join(dirname(modelJson), p));
    // One fresh buffer (byte offset 0), so every float32/int32 view below is aligned.
    const sizes = paths.map((p) => {
      try {
        return statSync(p).size;
      } catch {
        throw new Error(`${where}: shard ${p} is missing`);
      }
    });
    const bytes = new Uint8Array(sizes.reduce((a, b) => a + b, 0));
    let at = 0;
    paths.forEach((p) => {
      const b = readFileSync(p);
      bytes.set(b, at);
      at += b.byteLength;
    });

    let offset = 0;
    for (const [i, w] of group.weights.entries()) {
      const name = typeof w.name === "string" ? w.name : `#${i}`;
      if (typeof w.name !== "string") throw new Error(`${where}.weights[${i}] has no name`);
      if (w.quantization !== undefined) throw new Error(`${where}: weight "${name}" is quantised, which this reader does not support`);
      const dtype = w.dtype;
      if (dtype !== "float32" && dtype !== "int32") throw new Error(`${where}: weight "${name}" has dtype ${String(dtype)}; only float32 and int32 are supported`);
      if (!Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`${where}: weight "${name}" has a bad shape ${JSON.stringify(w.shape)}`);
      const shape = w.shape as number[];
      const count = shape.reduce((a, b) => a * b, 1);
      const size = count * BYTES[dtype]!;
      if (offset + size > bytes.byteLength) {
        throw new Error(`${where}: weight "${name}" needs bytes [${offset}, ${offset + size}) but the shards (${paths.join(", ")}) hold ${bytes.byteLength}`);
      }
      const data = dtype === "float32" ? new Float32Array(bytes.buffer, offset, count) : new Int32Array(bytes.buffer, offset, count);
      if (weights.has(name)) throw new Error(`${where}: weight "${name}" appears twice`);
      weights.set(name, { name, dtype, shape, data });
      offset += size;
    }
    if (offset !== bytes.byteLength) throw new Error(`${where}: the manifest accounts for ${offset} bytes but the shards hold ${bytes.byteLength}`);
  });
  return { file: modelJson, nodes, weights };
}

/** A float32 weight with the expected shape (`-1` matches any size), or an error naming it. */
export function floatWeight(model: GraphModel, name: string, shape?: readonly number[]): GraphWeight & { data: Float32Array } {
  const w = model.weights.get(name);
  if (!w) throw new Error(`${model.file}: weight "${name}" is missing`);
  if (w.dtype !== "float32") throw new Error(`${model.file}: weight "${name}" is ${w.dtype}, expected float32`);
  if (shape && (shape.length !== w.shape.length || shape.some((d, i) => d !== -1 && d !== w.shape[i]))) {
    throw new Error(`${model.file}: weight "${name}" has shape [${w.shape.join(", ")}], expected [${shape.join(", ")}]`);
  }
  return w as GraphWeight & { data: Float32Array };
}

/** A scalar constant (float32 or int32) stored with the weights. */
export function scalarWeight(model: GraphModel, name: string): number {
  const w = model.weights.get(name);
  if (!w) throw new Error(`${model.file}: constant "${name}" is missing`);
  if (w.data.length !== 1) throw new Error(`${model.file}: constant "${name}" has shape [${w.shape.join(", ")}], expected a scalar`);
  return w.data[0]!;
}

/** An int32 vector constant (split sizes and the like). */
export function intVector(model: GraphModel, name: string): number[] {
  const w = model.weights.get(name);
  if (!w) throw new Error(`${model.file}: constant "${name}" is missing`);
  if (w.dtype !== "int32") throw new Error(`${model.file}: constant "${name}" is ${w.dtype}, expected int32`);
  return Array.from(w.data);
}
