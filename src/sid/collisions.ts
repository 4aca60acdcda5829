/**
 * Collision resolution: make item ↔ code tuple a bijection.
 *
 * A language model that emits a SID must be able to name exactly one item, so two items may
 * not share a tuple. The quantiser gets most of the way ("natural" uniqueness); this pass fixes
 * the rest with the smallest possible change:
 *
 * - every distinct tuple stays with the first item (lowest index) that has it, and items whose
 *   tuple is already unique never change — all original tuples are reserved before anything
 *   moves, so a moved item can never land on another item's natural tuple;
 * - each later duplicate moves to the nearest free last-level code under the same prefix; if
 *   that prefix is full (all K last codes used) it moves to the nearest code at the previous
 *   level whose subtree has room, and so on up. "Nearest" is in embedding space when the
 *   quantiser can rank codes (`rankCodes`), otherwise by code number.
 *
 * A bijection exists iff items ≤ K^L; beyond that we fail loudly.
 */
import { type CodeTable, cloneCodeTable, codesOf } from "./quantiser.js";

export interface CollisionOptions {
  /**
   * Codes at `level` for item i, best first, given the codes chosen above it; null for "no
   * preference" (then codes nearest by number are tried first).
   */
  rankCodes?: (item: number, prefix: Int32Array, level: number) => ArrayLike<number> | null;
}

export interface CollisionResult {
  /** The final tuples: a bijection with the items. */
  codes: CodeTable;
  /** Items whose tuple changed, ascending. */
  moved: number[];
  /** Distinct tuples / items before resolution. */
  naturalUniqueness: number;
  /** Distinct tuples / items after (1 unless items > K^L, which throws). */
  finalUniqueness: number;
}

export interface CollisionGroup {
  size: number;
  codes: number[];
  items: number[];
}

type Key = number | string;

/**
 * Keys for tuple prefixes. A prefix of depth t is a number in mixed radix K when K^L fits a
 * double exactly (the usual case: 256^4 = 2^32), else a string. Each depth has its own map, so
 * keys of different depths never meet.
 */
function prefixKeyer(levels: number, K: number): (codes: ArrayLike<number>, depth: number) => Key {
  if (Math.pow(K, levels) <= Number.MAX_SAFE_INTEGER) {
    return (codes, depth) => {
      let k = 0;
      for (let l = 0; l < depth; l++) k = k * K + codes[l]!;
      return k;
    };
  }
  return (codes, depth) => Array.prototype.slice.call(codes, 0, depth).join(",");
}

/** Distinct tuples / items (1 for an empty table). */
export function uniqueness(t: CodeTable): number {
  if (t.n === 0) return 1;
  const key = prefixKeyer(t.levels, t.codebookSize);
  const seen = new Set<Key>();
  for (let i = 0; i < t.n; i++) seen.add(key(codesOf(t, i), t.levels));
  return seen.size / t.n;
}

/** Groups of ≥ 2 items sharing a tuple, largest first (ties: lowest first item), at most `limit`. */
export function collisionGroups(t: CodeTable, limit = Infinity): CollisionGroup[] {
  const key = prefixKeyer(t.levels, t.codebookSize);
  const groups = new Map<Key, number[]>();
  for (let i = 0; i < t.n; i++) {
    const k = key(codesOf(t, i), t.levels);
    const g = groups.get(k);
    if (g) g.push(i);
    else groups.set(k, [i]);
  }
  return Array.from(groups.values())
    .filter((items) => items.length > 1)
    .sort((a, b) => b.length - a.length || a[0]! - b[0]!)
    .slice(0, limit)
    .map((items) => ({ size: items.length, codes: Array.from(codesOf(t, items[0]!)), items }));
}

/** Codes 0..K-1 ordered by distance from `from` (from, from+1, from−1, from+2, …). */
function nearestByNumber(from: number, K: number): Int32Array {
  const out = new Int32Array(K);
  let o = 0;
  out[o++] = from;
  for (let step = 1; o < K; step++) {
    if (from + step < K) out[o++] = from + step;
    if (from - step >= 0) out[o++] = from - step;
  }
  return out;
}

/** Resolve collisions; the input table is not modified. */
export function resolveCollisions(t: CodeTable, opts: CollisionOptions = {}): CollisionResult {
  const { levels: L, codebookSize: K, n } = t;
  if (n > Math.pow(K, L)) {
    throw new Error(`cannot give ${n} items distinct SIDs: ${L} levels × ${K} codes allow only ${Math.pow(K, L)} tuples`);
  }
  const key = prefixKeyer(L, K);
  // used[t-1] counts distinct assigned tuples under each depth-t prefix; used[L-1] is the tuple set.
  const used: Map<Key, number>[] = Array.from({ length: L }, () => new Map());
  // capacity[t] = number of full tuples under a depth-t prefix = K^(L−t).
  const capacity = Array.from({ length: L + 1 }, (_, d) => Math.pow(K, L - d));
  const count = (codes: ArrayLike<number>, depth: number) => used[depth - 1]!.get(key(codes, depth)) ?? 0;
  const claim = (codes: ArrayLike<number>) => {
    for (let d = 1; d <= L; d++) {
      const k = key(codes, d);
      used[d - 1]!.set(k, (used[d - 1]!.get(k) ?? 0) + 1);
    }
  };

  const out = cloneCodeTable(t);
  const duplicates: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = codesOf(t, i);
    if (count(c, L) > 0) duplicates.push(i);
    else claim(c);
  }
  const naturalUniqueness = n === 0 ? 1 : (n - duplicates.length) / n;

  /** Every code at `level`, preferred first: the quantiser's ranking, then the rest by number. */
  const order = (item: number, codes: Int32Array, level: number): number[] => {
    const byNumber = nearestByNumber(codes[level]!, K);
    const ranked = opts.rankCodes?.(item, codes.subarray(0, level), level);
    if (!ranked) return Array.from(byNumber);
    const seen = new Uint8Array(K);
    const out: number[] = [];
    for (const list of [ranked, byNumber]) {
      for (let k = 0; k < list.length; k++) {
        const x = list[k]!;
        if (x >= 0 && x < K && !seen[x]) (seen[x] = 1), out.push(x);
      }
    }
    return out;
  };

  for (const i of duplicates) {
    const c = codesOf(out, i); // a view: edits land in `out`
    const original = Int32Array.from(c);
    let placed = false;
    // Walk up from the last level: the deepest level whose subtree has room decides the move.
    for (let l = L - 1; l >= 0 && !placed; l--) {
      c.set(original);
      for (const x of order(i, c, l)) {
        if (x === original[l]) continue; // that subtree is full (the tuple itself, or explored below)
        c[l] = x;
        if (count(c, l + 1) >= capacity[l + 1]!) continue;
        // Room under this prefix: fill the deeper levels with the best codes that still have room.
        for (let j = l + 1; j < L; j++) {
          const pick = order(i, c, j).find((y) => {
            c[j] = y;
            return count(c, j + 1) < capacity[j + 1]!;
          });
          if (pick === undefined) throw new Error(`internal: a prefix with room has no free code at level ${j}`);
          c[j] = pick;
        }
        placed = true;
        break;
      }
    }
    if (!placed) throw new Error(`internal: no free tuple for item ${i}`); // impossible when n ≤ K^L
    claim(c);
  }
  return { codes: out, moved: duplicates, naturalUniqueness, finalUniqueness: uniqueness(out) };
}
