/** Small helpers every subcommand shares for reading flags. */
export class UsageError extends Error {}

/** A flag's value as a number, or the default; a non-number is a usage error naming the flag. */
export function numberFlag(values: Record<string, unknown>, name: string, fallback: number): number {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== "string" || v.trim() === "" || !Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got "${String(v)}"`);
  return n;
}

export function choiceFlag<T extends string>(values: Record<string, unknown>, name: string, choices: readonly T[], fallback: T): T {
  const v = values[name];
  if (v === undefined) return fallback;
  if (!choices.includes(v as T)) throw new UsageError(`--${name} must be one of ${choices.join(", ")}, got "${String(v)}"`);
  return v as T;
}

/** Runs a command body, turning errors into one stderr line and exit code 2. */
export async function runCommand(name: string, usage: string, body: () => Promise<number> | number): Promise<number> {
  try {
    return await body();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const isUsage = err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    process.stderr.write(`gr2 ${name}: ${message}${isUsage ? `\n${usage}` : ""}\n`);
    if (process.env.GR2_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return 2;
  }
}

/** The flags every dataset-reading command takes. */
export const DATASET_OPTIONS = {
  dataset: { type: "string" },
  "data-dir": { type: "string" },
  users: { type: "string" },
  items: { type: "string" },
  seed: { type: "string" },
} as const;

export interface DatasetFlags {
  name: string;
  dataDir?: string;
  users?: number;
  items?: number;
  seed?: number;
}

export function datasetFlags(values: Record<string, unknown>, fallback = "synthetic"): DatasetFlags {
  const opt = (name: string) => (values[name] === undefined ? undefined : numberFlag(values, name, 0));
  return {
    name: (values.dataset as string | undefined) ?? fallback,
    dataDir: values["data-dir"] as string | undefined,
    users: opt("users"),
    items: opt("items"),
    seed: opt("seed"),
  };
}
