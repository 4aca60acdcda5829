/**
 * The trace file: JSON Lines, one list's trace per line, appended as lists finish.
 *
 * Why append rather than rewrite the file atomically on every flush: a Beauty-scale run holds
 * ~20k traces of several kB each, and rewriting 100 MB per flush would cost more than the
 * teacher. Appends are made crash-safe instead: each flush is one write of whole lines
 * followed by fsync, so a crash can only leave a torn *last* line; opening the file for
 * appending cuts such a tail, and readers skip it. The per-run statistics beside the file are
 * written atomically (temp file + rename).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, truncateSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import type { ChatMessage } from "../lm/chat.js";
import type { OutputFormat } from "../prompt/output-format.js";

/** The fields of a trace record that SFT learns from (reasoning and direct traces alike). */
export interface SftTrace {
  messages: ChatMessage[];
  response: string | null;
  format: OutputFormat;
  accepted: boolean;
  /** The answer's order (upstream indices, best first), when the file records it: `ranking[0] !== 0` moved the incoming head. */
  ranking?: number[] | null;
}

export interface ReadLines<T> {
  records: T[];
  /** Bytes of a torn last line (a crash mid-write), ignored. */
  tornBytes: number;
}

/** Reads a JSONL file (absent = empty). A torn last line is skipped; a bad line elsewhere is an error naming file:line. */
export function readJsonLines<T>(path: string): ReadLines<T> {
  if (!existsSync(path)) return { records: [], tornBytes: 0 };
  const text = readFileSync(path, "utf8");
  const complete = text.endsWith("\n") || text === "" ? text : text.slice(0, text.lastIndexOf("\n") + 1);
  const records: T[] = [];
  complete.split("\n").forEach((line, n) => {
    if (line.trim() === "") return;
    try {
      records.push(JSON.parse(line) as T);
    } catch (e) {
      throw new Error(`${path}:${n + 1}: not valid JSON (${(e as Error).message})`);
    }
  });
  return { records, tornBytes: Buffer.byteLength(text) - Buffer.byteLength(complete) };
}

/** Appends JSON lines in flushed batches (see the file comment). */
export class JsonLinesAppender {
  private fd: number;
  private buffer: string[] = [];
  private lastFlush = Date.now();

  constructor(
    readonly path: string,
    /** Flush after this many lines … */
    readonly flushEvery = 32,
    /** … or when this much time passed since the last flush. */
    readonly flushMs = 2000,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    if (existsSync(path)) {
      const text = readFileSync(path, "utf8");
      if (text !== "" && !text.endsWith("\n")) truncateSync(path, Buffer.byteLength(text.slice(0, text.lastIndexOf("\n") + 1)));
    }
    this.fd = openSync(path, "a");
  }

  append(record: unknown): void {
    this.buffer.push(`${JSON.stringify(record)}\n`);
    if (this.buffer.length >= this.flushEvery || Date.now() - this.lastFlush >= this.flushMs) this.flush();
  }

  flush(): void {
    if (this.fd < 0) throw new Error(`${this.path}: appender is closed`);
    this.lastFlush = Date.now();
    if (this.buffer.length === 0) return;
    const bytes = Buffer.from(this.buffer.join(""), "utf8");
    this.buffer = [];
    let off = 0;
    while (off < bytes.byteLength) off += writeSync(this.fd, bytes, off, bytes.byteLength - off);
    fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}
