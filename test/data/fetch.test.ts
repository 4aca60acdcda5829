import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { FetchError } from "../../src/data/errors.js";
import { fetchDataset, fetchFiles } from "../../src/data/fetch.js";
import { loadDataset, datasetStats } from "../../src/data/load.js";
import { DATASET_SOURCES, rawUrl, type SourceFile } from "../../src/data/sources.js";
import { tempDir } from "./helpers.js";
import { realDataset } from "./realdata.js";

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const A = "1 1 2 3\n";
const B = '{"id2item": {}}\n';
const file = (name: string, body: string, sha = sha256(body)): SourceFile => ({ name, repo: "owner/repo", commit: COMMIT, path: `data/${name}`, sha256: sha });

/** A stand-in for raw.githubusercontent.com on 127.0.0.1: serves `routes` (URL path → body), 404 otherwise. */
const routes = new Map<string, string | Buffer>();
const requests: string[] = [];
let server: Server;
let baseUrl: string;

/** Registers each file's body under the path its raw URL has, and returns the files. */
function serve(...files: [SourceFile, string | Buffer][]): SourceFile[] {
  for (const [f, body] of files) routes.set(new URL(rawUrl(f, "http://x")).pathname, body);
  return files.map(([f]) => f);
}

before(async () => {
  server = createServer((req, res) => {
    requests.push(req.url!);
    const body = routes.get(req.url!);
    if (body === undefined) res.writeHead(404, "Not Found").end("404: Not Found");
    else res.writeHead(200, { "content-type": "application/octet-stream" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

test("downloads and verifies each file, then finds it cached without a request", async () => {
  const files = serve([file("a.txt", A), A], [file("b.json", B), B]);
  const dir = join(tempDir(), "cache", "ds");
  const first = await fetchFiles(files, dir, { baseUrl });
  assert.deepEqual(first.map((f) => [f.name, f.status, f.bytes]), [["a.txt", "downloaded", 8], ["b.json", "downloaded", 16]]);
  assert.equal(first[0]!.url, `${baseUrl}/owner/repo/${COMMIT}/data/a.txt`);
  assert.equal(readFileSync(join(dir, "a.txt"), "utf8"), A);
  assert.deepEqual(readdirSync(dir).sort(), ["a.txt", "b.json"]); // no temporary files left

  const before = requests.length;
  const again = await fetchFiles(files, dir, { baseUrl });
  assert.deepEqual(again.map((f) => f.status), ["cached", "cached"]);
  assert.equal(requests.length, before);
});

test("a present file with a wrong checksum is downloaded again (resume after a bad write)", async () => {
  const files = serve([file("a.txt", A), A]);
  const dir = tempDir();
  writeFileSync(join(dir, "a.txt"), "1 1 2");
  const [a] = await fetchFiles(files, dir, { baseUrl });
  assert.equal(a!.status, "downloaded");
  assert.equal(readFileSync(join(dir, "a.txt"), "utf8"), A);
});

test("a checksum mismatch names the file, expected and actual sha256, and leaves nothing behind", async () => {
  const expected = "f".repeat(64);
  const files = serve([file("c.txt", A, expected), A]);
  const dir = tempDir();
  await assert.rejects(fetchFiles(files, dir, { baseUrl }), (err: unknown) => {
    assert.ok(err instanceof FetchError);
    assert.match(err.message, /^checksum mismatch for c\.txt from http:\/\/127\.0\.0\.1:\d+\/owner\/repo\/.*\/data\/c\.txt/);
    assert.ok(err.message.endsWith(`expected sha256 ${expected}, got ${sha256(A)}`), err.message);
    return true;
  });
  assert.deepEqual(readdirSync(dir), []);
});

test("fetchDataset uses the pinned upstream paths and checksums", async () => {
  const beauty = DATASET_SOURCES.find((s) => s.name === "amazon-beauty")!.files[0]!;
  serve([beauty, "not the real file\n"]);
  const cacheDir = tempDir();
  await assert.rejects(
    fetchDataset("amazon-beauty", { cacheDir, baseUrl }),
    new RegExp(`checksum mismatch for Beauty\\.txt from ${baseUrl}/aHuiWang/CIKM2020-S3Rec/49a890dcb516c9ed3126564495234ea74d5cd566/data/Beauty\\.txt: expected sha256 ${beauty.sha256}, got ${sha256("not the real file\n")}`),
  );
  await assert.rejects(fetchDataset("imagenet", { cacheDir }), /no download source for dataset "imagenet"; supported: amazon-beauty, movielens-100k/);
});

test("HTTP errors and refused connections name the URL", async () => {
  const dir = tempDir();
  await assert.rejects(fetchFiles([file("missing.txt", A)], dir, { baseUrl }), /cannot download http:\/\/127\.0\.0\.1:\d+\/owner\/repo\/[0-9a-f]+\/data\/missing\.txt: HTTP 404 Not Found/);

  // A port that was free a moment ago: listen on it, note it, close it.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const url = `http://127.0.0.1:${port}`;
  await assert.rejects(fetchFiles([file("a.txt", A)], dir, { baseUrl: url }), (err: unknown) => {
    assert.ok(err instanceof FetchError);
    assert.equal(err.message, `cannot download ${url}/owner/repo/${COMMIT}/data/a.txt: connection refused (ECONNREFUSED)`);
    return true;
  });
});

test("end to end with the real files served locally: fetch both datasets, then load them from the cache", async (t) => {
  const found = DATASET_SOURCES.map((s) => ({ source: s, where: realDataset(s.folder, s.files[0]!.name) }));
  const missing = found.find((f) => "skip" in f.where);
  if (missing && "skip" in missing.where) {
    t.skip(missing.where.skip);
    return;
  }
  for (const { source, where } of found) {
    for (const f of source.files) serve([f, readFileSync(join((where as { dir: string }).dir, f.name))]);
  }
  const cacheDir = tempDir();
  for (const s of DATASET_SOURCES) {
    const result = await fetchDataset(s.name, { cacheDir, baseUrl });
    assert.ok(result.files.every((f) => f.status === "downloaded"));
  }
  const beauty = datasetStats(await loadDataset({ name: "amazon-beauty", dataDir: cacheDir }));
  assert.deepEqual([beauty.users, beauty.items, beauty.interactions], [22363, 12101, 198502]);
  const ml = datasetStats(await loadDataset({ name: "movielens-100k", dataDir: cacheDir }));
  assert.deepEqual([ml.users, ml.items, ml.interactions], [943, 1682, 100000]);
});
