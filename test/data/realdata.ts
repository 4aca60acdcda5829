/**
 * Where the real datasets are for the tests that use them: $GR2_DATA_DIR, else
 * ../shared/datasets next to the repository. They are never copied into the repository.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root, from dist/test/data/ (compiled) three levels up. */
const REPO_ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");

export const REAL_DATA_DIR = process.env.GR2_DATA_DIR ?? join(REPO_ROOT, "..", "shared", "datasets");

/** The folder of one real dataset, or a skip message saying what is missing. */
export function realDataset(folder: string, requiredFile: string): { dir: string } | { skip: string } {
  const dir = join(REAL_DATA_DIR, folder);
  if (existsSync(join(dir, requiredFile))) return { dir };
  return { skip: `real data not found: ${join(dir, requiredFile)} is absent (set GR2_DATA_DIR to the folder holding ${folder}/)` };
}
