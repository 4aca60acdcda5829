/**
 * Atomic file writes: write a temp file beside the target (same folder, so the rename stays on
 * one file system), fsync it, then rename it over the target. A crash or a failed write never
 * leaves a half-written file under the real name, and the temp file is removed on failure.
 * The target's folder is created if needed. Synchronous and asynchronous versions, and one for
 * writers that can only write to a path (native bindings).
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, basename, join } from "node:path";

/** A hidden, unique name in the target's folder: `.<name>.tmp-<pid>-<random>`. */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
}

const toBytes = (data: string | Uint8Array): Uint8Array => (typeof data === "string" ? Buffer.from(data, "utf8") : data);

/**
 * Produces `path` atomically with `write(tmp)`, which must write the whole file at the path it
 * is given; the result is made durable and renamed into place.
 */
export function writeAtomicWith(path: string, write: (tmp: string) => void): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    write(tmp);
    const fd = openSync(tmp, "r+");
    try {
      fsyncSync(fd); // the rename must not become visible before the data is on disk
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // the original error is the one worth reporting
    }
    throw e;
  }
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  writeAtomicWith(path, (tmp) => writeFileSync(tmp, toBytes(data)));
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/**
 * The asynchronous `writeFileAtomic`. `durable: false` skips the fsync, for caches: the rename
 * still keeps readers from seeing a torn file, but after a power loss the entry may be empty.
 */
export async function writeFileAtomicAsync(path: string, data: string | Uint8Array, { durable = true } = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    const fh = await open(tmp, "w");
    try {
      await fh.writeFile(toBytes(data));
      if (durable) await fh.sync(); // the rename must not become visible before the data is on disk
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {}); // the original error is the one worth reporting
    throw e;
  }
}
