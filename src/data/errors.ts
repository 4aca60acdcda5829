/**
 * Errors the data layer throws on purpose. Both carry enough context to fix the problem
 * without a debugger: a `DataError` names the file, the line and what was expected there; a
 * `FetchError` names the URL or file and what went wrong with it. The CLI turns them into a
 * one-line message and exit code 2 (a user error, not a crash).
 */

/** Where in an input a problem sits. `line` is 1-based; it is absent for whole-file problems. */
export interface Where {
  file: string;
  line?: number;
}

/** Renders `file:line` (or just `file`) the way compilers do, so editors can jump to it. */
export function formatWhere(where: Where): string {
  return where.line === undefined ? where.file : `${where.file}:${where.line}`;
}

/** Malformed or inconsistent input data. */
export class DataError extends Error {
  readonly file?: string;
  readonly line?: number;

  constructor(where: Where | undefined, message: string) {
    super(where ? `${formatWhere(where)}: ${message}` : message);
    this.name = "DataError";
    this.file = where?.file;
    this.line = where?.line;
  }
}

/** A download that failed: unreachable host, bad HTTP status or wrong checksum. */
export class FetchError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FetchError";
  }
}

/**
 * A piece of input quoted for an error message: shortened, and JSON-quoted so that newlines and
 * tabs are escaped and the message stays on one line.
 */
export function snippet(text: string, max = 60): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}
