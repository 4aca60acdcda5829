/** Small helpers every subcommand shares: reading flags, reporting errors, printing. */

/** Thrown for bad command lines; reported like any other error, but with the usage hint. */
export class UsageError extends Error {}

/** A bad command line: a UsageError or one of parseArgs' own errors (unknown option, …). */
export function isUsageError(err: unknown): boolean {
  return err instanceof UsageError || ((err as { code?: string } | null)?.code?.startsWith("ERR_PARSE_ARGS") ?? false);
}

/** Bounds a number flag must lie within (inclusive). */
export interface NumberRange {
  min?: number;
  max?: number;
}

/** What a number flag expects, for its error: "a number", "a number ≥ 0", "a number in [0, 1]". */
function expectedNumber({ min = -Infinity, max = Infinity }: NumberRange): string {
  if (min > -Infinity && max < Infinity) return `a number in [${min}, ${max}]`;
  if (min > -Infinity) return `a number ≥ ${min}`;
  if (max < Infinity) return `a number ≤ ${max}`;
  return "a number";
}

/** `text` as a number (within `range`); anything else is a usage error naming the flag. */
export function parseNumber(name: string, text: string, range: NumberRange = {}): number {
  const n = Number(text);
  const { min = -Infinity, max = Infinity } = range;
  if (text.trim() === "" || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} expects ${expectedNumber(range)}, got "${text}"`);
  return n;
}

/** `text` as an integer ≥ `min` (the bound is named in the error unless it is -Infinity). */
export function parseInteger(name: string, text: string, min = -Infinity): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${name} expects an integer${min > -Infinity ? ` ≥ ${min}` : ""}, got "${text}"`);
  }
  return n;
}

/**
 * A flag's value as a number, or the fallback when absent; a non-number, or one outside `range`,
 * is a usage error naming the flag.
 */
export function numberFlag<F extends number | undefined>(values: Record<string, unknown>, name: string, fallback: F, range: NumberRange = {}): number | F {
  const v = values[name];
  if (v === undefined) return fallback;
  if (typeof v !== "string") throw new UsageError(`--${name} expects ${expectedNumber(range)}, got "${String(v)}"`);
  return parseNumber(name, v, range);
}

/** An optional integer flag (≥ `min`): undefined when absent, a usage error when not such an integer. */
export function integerFlag(values: Record<string, unknown>, name: string, min = -Infinity): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new UsageError(`--${name} expects an integer, got "${String(v)}"`);
  return parseInteger(name, v, min);
}

/** A flag that must be given (and not empty): its value, or a usage error `missing --name WHAT`. */
export function requiredFlag(values: Record<string, unknown>, name: string, what?: string): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") throw new UsageError(`missing --${name}${what ? ` ${what}` : ""}`);
  return v;
}

/** A flag that takes one of `choices` (the fallback when absent); anything else is a usage error listing them. */
export function choiceFlag<T extends string>(values: Record<string, unknown>, name: string, choices: readonly T[], fallback: T): T {
  const v = values[name];
  if (v === undefined) return fallback;
  if (!choices.includes(v as T)) throw new UsageError(`--${name} must be one of ${choices.join(", ")}, got "${String(v)}"`);
  return v as T;
}

/** Where a command writes; replaceable so tests can capture output. */
export interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Whether progress may redraw one line (a terminal). */
  tty?: boolean;
}

export const PROCESS_OUTPUT: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  tty: process.stderr.isTTY,
};

export interface RunOptions {
  /** Where the error report goes (default: the process's stderr). */
  io?: Output;
  /**
   * Report every error as exactly one stderr line (line breaks in the message folded), a usage
   * error ending with a pointer to `gr2 <name> help` instead of the whole usage text.
   */
  oneLine?: boolean;
}

/**
 * Runs a command body, turning errors into a stderr report and exit code 2: `gr2 <name>: <message>`,
 * followed for usage errors by the usage text (or, with `oneLine`, by ` (gr2 <name> help)`).
 * GR2_DEBUG=1 adds the stack.
 */
export async function runCommand(
  name: string,
  usage: string,
  body: () => Promise<number> | number,
  { io = PROCESS_OUTPUT, oneLine = false }: RunOptions = {},
): Promise<number> {
  try {
    return await body();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // `--help`/`-h` on a command whose flags do not declare it: parseArgs rejects it as unknown,
    // before the body could print anything; the user asked for the usage text, so that is the answer.
    if ((err as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && /'(--help|-h)'/.test(message)) {
      io.out(`${usage}\n`);
      return 0;
    }
    const usageError = isUsageError(err);
    io.err(
      oneLine
        ? `gr2 ${name}: ${message.replace(/\s*\n\s*/g, " ")}${usageError ? ` (gr2 ${name} help)` : ""}\n`
        : `gr2 ${name}: ${message}${usageError ? `\n${usage}` : ""}\n`,
    );
    if (process.env.GR2_DEBUG && err instanceof Error) io.err(`${err.stack}\n`);
    return 2;
  }
}

/** A subcommand of a `gr2 <command> <subcommand> …` family. */
export type Subcommand = (args: string[], io: Output) => Promise<number> | number;

/**
 * Runs `gr2 <name> <sub> [args]`: the subcommand named first in `args`, or the usage text for
 * help/--help/-h. Errors are reported on one stderr line (see `runCommand`'s `oneLine`).
 */
export function runSubcommands(name: string, usage: string, subcommands: Record<string, Subcommand>, args: string[], io: Output = PROCESS_OUTPUT): Promise<number> {
  const [sub, ...rest] = args;
  return runCommand(
    name,
    usage,
    () => {
      if (sub === "help" || sub === "--help" || sub === "-h") {
        io.out(`${usage}\n`);
        return 0;
      }
      const names = Object.keys(subcommands);
      const expected = names.length > 1 ? `${names.slice(0, -1).join(", ")} or ${names.at(-1)}` : names.join("");
      if (sub === undefined) throw new UsageError(`missing subcommand (${expected})`);
      const run = Object.hasOwn(subcommands, sub) ? subcommands[sub] : undefined;
      if (!run) throw new UsageError(`unknown subcommand "${sub}" (expected ${expected})`);
      return run(rest, io);
    },
    { io, oneLine: true },
  );
}

/** Prints `key  value` rows with the keys padded to one width. */
export function printTable(io: Output, rows: [string, string][]): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [key, value] of rows) io.out(`${key.padEnd(width)}  ${value}\n`);
}

/** `x` rounded to `digits` decimals (for JSON summaries). */
export const round = (x: number, digits = 4): number => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * The flags every dataset-reading command takes: the catalogue (--dataset, --data-dir) and, for
 * the synthetic one, its size, seed, product lines and description length (--users, --items, --seed, --product-lines, --description-words). `--seed` is the catalogue's
 * seed in every command, so that one value names the same catalogue in every stage.
 */
export const DATASET_OPTIONS = {
  dataset: { type: "string" },
  "data-dir": { type: "string" },
  users: { type: "string" },
  items: { type: "string" },
  seed: { type: "string" },
  "product-lines": { type: "string" },
  "description-words": { type: "string" },
} as const;

export interface DatasetFlags {
  name: string;
  dataDir?: string;
  users?: number;
  items?: number;
  /** synthetic: the chance a complement step follows the item's product line (`gr2 demo`'s catalogue: 0.8). */
  productLines?: number;
  /** synthetic: words of description per item (long-text catalogues). */
  descriptionWords?: number;
  seed?: number;
}

export interface DatasetFlagOptions {
  /** Without --dataset: a usage error `missing --dataset NAME` (default: use the synthetic catalogue). */
  required?: boolean;
  /** The flag that gives the synthetic catalogue's user count, where --users means something else. */
  usersFlag?: string;
  /**
   * An old spelling of --seed that the command still reads (deprecated; say so in its usage). When
   * given it sets the catalogue's seed, and `warn` is told.
   */
  seedAlias?: string;
  warn?: (text: string) => void;
}

/** The dataset flags' values, checked: a count that is not an integer ≥ 1, or a seed that is not an integer, is a usage error. */
export function datasetFlags(values: Record<string, unknown>, o: DatasetFlagOptions = {}): DatasetFlags {
  const name = values.dataset as string | undefined;
  if (name === undefined && o.required) throw new UsageError("missing --dataset NAME");
  const aliased = o.seedAlias !== undefined && values[o.seedAlias] !== undefined ? o.seedAlias : undefined;
  const flags = {
    name: name ?? "synthetic",
    dataDir: values["data-dir"] as string | undefined,
    users: integerFlag(values, o.usersFlag ?? "users", 1),
    items: integerFlag(values, "items", 1),
    seed: integerFlag(values, aliased ?? "seed"),
  };
  const productLines = numberFlag(values, "product-lines", undefined, { min: 0, max: 1 });
  const descriptionWords = integerFlag(values, "description-words", 0);
  if (aliased) o.warn?.(`warning: --${aliased} is deprecated; use --seed`);
  return { ...flags, ...(productLines !== undefined ? { productLines } : {}), ...(descriptionWords !== undefined ? { descriptionWords } : {}) };
}
