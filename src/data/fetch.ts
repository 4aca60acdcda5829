/**
 * Downloads the public upstream files of a supported dataset (sources.ts) into a cache folder,
 * verifying each file's sha256.
 *
 * - Atomic: a file is written only after its checksum matched, to a temporary name in the same
 *   folder renamed into place (src/util/atomic.ts), so an interrupted run never leaves a half file
 *   under the real name.
 * - Resume-safe: files already present with the right checksum are not downloaded again; a
 *   present file with a wrong checksum is replaced.
 * - Errors are `FetchError`s naming the URL (unreachable, HTTP status) or the file (checksum,
 *   with expected and actual values).
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomicAsync } from "../util/atomic.js";
import { FetchError } from "./errors.js";
import { DATASET_SOURCES, findDatasetSource, rawUrl, type SourceFile } from "./sources.js";

export interface FetchFilesOptions {
  /** Replaces https://raw.githubusercontent.com (mirrors, tests). */
  baseUrl?: string;
  /** Per-file time limit in milliseconds (default 5 minutes). */
  timeoutMs?: number;
  /** Called once per file as it is settled. */
  onFile?: (file: FetchedFile) => void;
}

export interface FetchOptions extends FetchFilesOptions {
  /** Files go to `<cacheDir>/<dataset folder>/`. */
  cacheDir: string;
}

export interface FetchedFile {
  name: string;
  path: string;
  url: string;
  status: "cached" | "downloaded";
  bytes: number;
}

export interface FetchResult {
  dataset: string;
  /** The folder holding the files; pass its parent as the data dir to `loadDataset`. */
  dir: string;
  files: FetchedFile[];
  terms: string;
}

export async function fetchDataset(name: string, options: FetchOptions): Promise<FetchResult> {
  const source = findDatasetSource(name);
  if (!source) {
    const known = DATASET_SOURCES.map((s) => s.name).join(", ");
    throw new FetchError(`no download source for dataset "${name}"; supported: ${known}`);
  }
  const dir = join(options.cacheDir, source.folder);
  const files = await fetchFiles(source.files, dir, options);
  return { dataset: source.name, dir, files, terms: source.terms };
}

/** Downloads (or finds already verified) each file into `dir`, one after the other. */
export async function fetchFiles(sources: readonly SourceFile[], dir: string, options: FetchFilesOptions = {}): Promise<FetchedFile[]> {
  await mkdir(dir, { recursive: true });
  const files: FetchedFile[] = [];
  for (const file of sources) {
    const fetched = await fetchFile(file, dir, options);
    options.onFile?.(fetched);
    files.push(fetched);
  }
  return files;
}

async function fetchFile(file: SourceFile, dir: string, options: FetchFilesOptions): Promise<FetchedFile> {
  const path = join(dir, file.name);
  const url = rawUrl(file, options.baseUrl);
  if (existsSync(path)) {
    const present = await sha256File(path);
    if (present.sha256 === file.sha256) return { name: file.name, path, url, status: "cached", bytes: present.bytes };
  }
  const body = await download(url, options.timeoutMs ?? 300_000);
  const got = sha256(body);
  if (got !== file.sha256) {
    throw new FetchError(`checksum mismatch for ${file.name} from ${url}: expected sha256 ${file.sha256}, got ${got}`);
  }
  await writeFileAtomicAsync(path, body);
  return { name: file.name, path, url, status: "downloaded", bytes: body.length };
}

/** The whole response body (the files are at most a few MiB); network failures name the URL. */
async function download(url: string, timeoutMs: number): Promise<Buffer> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
  } catch (err) {
    throw new FetchError(`cannot download ${url}: ${networkReason(err)}`, { cause: err });
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new FetchError(`cannot download ${url}: HTTP ${response.status} ${response.statusText}`.trimEnd());
  }
  try {
    return Buffer.from(await response.arrayBuffer());
  } catch (err) {
    throw new FetchError(`download of ${url} broke off: ${networkReason(err)}`, { cause: err });
  }
}

/** Node's fetch hides the reason in `cause` ("fetch failed" → ECONNREFUSED, ENOTFOUND …). */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === "ECONNREFUSED") return "connection refused (ECONNREFUSED)";
  if (cause?.code === "ENOTFOUND") return "host not found (ENOTFOUND)";
  if ((err as Error).name === "TimeoutError") return "timed out";
  return cause?.code ?? cause?.message ?? (err as Error).message ?? String(err);
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Streams a file through sha256, so checking a cached file does not load it whole. */
async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), bytes };
}
