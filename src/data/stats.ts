/** Summary numbers of a dataset, the ones papers report (users, items, interactions, lengths). */
import type { Dataset } from "./types.js";

export interface DatasetStats {
  name: string;
  users: number;
  items: number;
  interactions: number;
  avg_seq_len: number;
  min_seq_len: number;
  median_seq_len: number;
  max_seq_len: number;
}

export function datasetStats(ds: Dataset): DatasetStats {
  const lengths = ds.interactions.sequences.map((s) => s.length).sort((a, b) => a - b);
  const interactions = lengths.reduce((sum, n) => sum + n, 0);
  const n = lengths.length;
  return {
    name: ds.catalogue.name,
    users: n,
    items: ds.catalogue.items.length,
    interactions,
    avg_seq_len: n === 0 ? 0 : interactions / n,
    min_seq_len: lengths[0] ?? 0,
    median_seq_len: median(lengths),
    max_seq_len: lengths[n - 1] ?? 0,
  };
}

/** Median of sorted numbers (mean of the two middle ones for an even count). */
function median(sorted: readonly number[]): number {
  const n = sorted.length;
  if (n === 0) return 0;
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
