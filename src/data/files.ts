/**
 * File-system helpers shared by the readers: reading text with the right encoding, splitting
 * into numbered lines, and finding a dataset's files by name pattern. Every failure becomes a
 * `DataError` that names the path.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { DataError } from "./errors.js";

/**
 * Reads a whole text file. `latin1` is for MovieLens' u.item (ISO-8859-1); a UTF-8 byte-order
 * mark is dropped so that it does not end up inside the first header name.
 */
export function readText(path: string, encoding: "utf8" | "latin1" = "utf8"): string {
  let text: string;
  try {
    text = readFileSync(path, encoding);
  } catch (err) {
    throw new DataError({ file: path }, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

export interface Line {
  /** 1-based. */
  line: number;
  text: string;
}

/**
 * The file's lines with their numbers, without line endings (LF or CRLF). A final newline does
 * not produce an empty last line; empty lines elsewhere are kept so callers can count them.
 */
export function splitLines(text: string): Line[] {
  const raw = text.split("\n");
  if (raw.length > 0 && raw[raw.length - 1] === "") raw.pop();
  return raw.map((t, i) => ({ line: i + 1, text: t.endsWith("\r") ? t.slice(0, -1) : t }));
}

export function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** Names of the files in `dir` that match `pattern`, sorted so the choice is reproducible. */
export function listFiles(dir: string, pattern: RegExp): string[] {
  if (!isDirectory(dir)) return [];
  return readdirSync(dir)
    .filter((name) => pattern.test(name) && statSync(join(dir, name)).isFile())
    .sort();
}

/** The one file in `dir` matching `pattern`; a `DataError` saying what was looked for otherwise. */
export function findOneFile(dir: string, pattern: RegExp, what: string): string {
  const found = listFiles(dir, pattern);
  if (found.length === 1) return join(dir, found[0]!);
  const detail = found.length === 0 ? "none found" : `found several: ${found.join(", ")}`;
  throw new DataError({ file: dir }, `expected exactly one ${what} (${pattern}), ${detail}`);
}

/** Like `findOneFile`, but `undefined` when there is none (for optional files). */
export function findOptionalFile(dir: string, pattern: RegExp, what: string): string | undefined {
  return listFiles(dir, pattern).length === 0 ? undefined : findOneFile(dir, pattern, what);
}

/**
 * JSON.parse with a `DataError` that names the file and, when V8 reports a character position,
 * the line it falls on. `line` is the line the text starts on (for one JSONL line).
 */
export function parseJson(text: string, file: string, line = 1): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const position = /position (\d+)/.exec(message);
    const at = position ? line + countNewlines(text, 0, Number(position[1])) : line;
    throw new DataError({ file, line: at }, `expected valid JSON: ${message}`);
  }
}

/** Number of `\n` in text[from, to). */
export function countNewlines(text: string, from: number, to: number): number {
  let count = 0;
  for (let i = text.indexOf("\n", from); i >= 0 && i < to; i = text.indexOf("\n", i + 1)) count++;
  return count;
}
