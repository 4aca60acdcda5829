/** Shared by the data tests: temporary folders with generated files, and DataError checks. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { DataError } from "../../src/data/errors.js";

/** A fresh temporary folder, removed when the test file ends. */
export function tempDir(prefix = "gr2-data-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `{ name: content }` into `dir` (strings as UTF-8, Buffers as they are) and returns `dir`. */
export function writeFiles(dir: string, files: Record<string, string | Buffer>): string {
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

/** A temporary folder holding `files`. */
export function folderWith(files: Record<string, string | Buffer>): string {
  return writeFiles(tempDir(), files);
}

/**
 * Asserts that `fn` throws a DataError whose message starts with `<file>:<line>:` (the file given
 * by its name, matched at the end of the path) and matches `expected`.
 */
export function assertDataError(fn: () => unknown, file: string, line: number | undefined, expected: RegExp): DataError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof DataError, `expected a DataError, got ${caught === undefined ? "no error" : String(caught)}`);
  const location = line === undefined ? `${file}: ` : `${file}:${line}: `;
  assert.ok(caught.message.includes(location), `message should name ${location.trim()}: ${caught.message}`);
  assert.match(caught.message, expected);
  assert.ok(!caught.message.includes("\n"), `message should be one line: ${caught.message}`);
  return caught;
}

/** Lines joined with LF and a final newline, as the upstream files are written. */
export const lines = (...rows: string[]): string => `${rows.join("\n")}\n`;
