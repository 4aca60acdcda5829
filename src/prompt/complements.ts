/**
 * Complementary categories ("shampoo → conditioner"), the domain knowledge GR2's prompt primes
 * the model with. They are mined from the TRAIN split only: category B is a complement of A
 * when, in the training sequences, an item of B directly follows an item of A much more often
 * than B's overall share of next items would predict (lift), and often enough to trust.
 * Validation and test targets never enter these counts, so priming cannot leak a target.
 *
 * Users may also bring their own hints (`ComplementHint[]`) instead of mined ones.
 */
import type { Item } from "../data/types.js";
import { categoryKey } from "../data/text.js";

export interface ComplementHint {
  /** Category path of the earlier item, e.g. "Hair Care > Shampoo". */
  from: string;
  /** Category path of the item that follows. */
  to: string;
  /** Times an item of `to` directly followed an item of `from` in the training sequences (0 when given by hand). */
  count: number;
  /** P(next in `to` | current in `from`) / P(next in `to`); 0 when given by hand. */
  lift: number;
}

export interface MineOptions {
  /** Pairs seen fewer times are ignored (default 3). */
  minCount?: number;
  /** Pairs with a smaller lift are ignored (default 1.5). */
  minLift?: number;
  /** Kept per source category, strongest first (default 2). */
  perCategory?: number;
}


/** Mined complements with the counts they were computed from (the evidence teacher cites them). */
export class ComplementTable {
  private readonly bySource = new Map<string, ComplementHint[]>();
  private readonly byPair = new Map<string, ComplementHint>();

  constructor(readonly hints: readonly ComplementHint[]) {
    for (const h of hints) {
      const list = this.bySource.get(h.from) ?? [];
      list.push(h);
      this.bySource.set(h.from, list);
      this.byPair.set(`${h.from}\u0000${h.to}`, h);
    }
  }

  /** The hint from → to, if kept. */
  get(from: string, to: string): ComplementHint | undefined {
    return this.byPair.get(`${from}\u0000${to}`);
  }

  /** Hints whose source is `from`, strongest first. */
  from(from: string): readonly ComplementHint[] {
    return this.bySource.get(from) ?? [];
  }

  /**
   * Up to `max` hints for one list: first those linking a history category to a candidate
   * category (strongest lift first), then, to keep the priming present, the strongest hints
   * from the history's categories.
   */
  relevant(historyCategories: Iterable<string>, candidateCategories: Iterable<string>, max: number): ComplementHint[] {
    const hist = new Set(historyCategories);
    const cand = new Set(candidateCategories);
    const fromHistory = [...hist].flatMap((c) => this.from(c));
    const byStrength = (a: ComplementHint, b: ComplementHint) => b.lift - a.lift || b.count - a.count || a.from.localeCompare(b.from) || a.to.localeCompare(b.to);
    const linked = fromHistory.filter((h) => cand.has(h.to)).sort(byStrength);
    const rest = fromHistory.filter((h) => !cand.has(h.to)).sort(byStrength);
    return [...linked, ...rest].slice(0, Math.max(0, max));
  }
}

/** Counts of category transitions between consecutive items of the training sequences. */
export interface TransitionCounts {
  /** "from\0to" → count, for from ≠ to. */
  pairs: Map<string, number>;
  /** from → transitions leaving it (to any category, itself included). */
  outgoing: Map<string, number>;
  /** to → transitions entering it (from any category, itself included). */
  incoming: Map<string, number>;
  total: number;
}

/** Counts consecutive category transitions (items without categories are skipped). */
export function countTransitions(train: readonly (readonly number[])[], items: readonly Item[]): TransitionCounts {
  const pairs = new Map<string, number>();
  const outgoing = new Map<string, number>();
  const incoming = new Map<string, number>();
  let total = 0;
  const inc = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  for (const seq of train) {
    for (let t = 1; t < seq.length; t++) {
      const a = categoryKey(items[seq[t - 1]!]!);
      const b = categoryKey(items[seq[t]!]!);
      if (a === "" || b === "") continue;
      total++;
      inc(outgoing, a);
      inc(incoming, b);
      if (a !== b) inc(pairs, `${a}\u0000${b}`);
    }
  }
  return { pairs, outgoing, incoming, total };
}

/** lift(A → B) from transition counts (exported so tests recompute it independently of the table). */
export function transitionLift(c: TransitionCounts, from: string, to: string): number {
  const n = c.pairs.get(`${from}\u0000${to}`) ?? 0;
  const out = c.outgoing.get(from) ?? 0;
  const inn = c.incoming.get(to) ?? 0;
  if (n === 0 || out === 0 || inn === 0) return 0;
  return n / out / (inn / c.total);
}

/** Mines complement hints from the TRAIN sequences (never pass valid/test targets). */
export function mineComplements(train: readonly (readonly number[])[], items: readonly Item[], o: MineOptions = {}): ComplementTable {
  const minCount = o.minCount ?? 3;
  const minLift = o.minLift ?? 1.5;
  const perCategory = o.perCategory ?? 2;
  const counts = countTransitions(train, items);
  const bySource = new Map<string, ComplementHint[]>();
  for (const [key, count] of counts.pairs) {
    if (count < minCount) continue;
    const [from, to] = key.split("\u0000") as [string, string];
    const lift = transitionLift(counts, from, to);
    if (lift < minLift) continue;
    const list = bySource.get(from) ?? [];
    list.push({ from, to, count, lift: Math.round(lift * 100) / 100 });
    bySource.set(from, list);
  }
  const hints: ComplementHint[] = [];
  for (const from of [...bySource.keys()].sort()) {
    const list = bySource.get(from)!.sort((a, b) => b.lift - a.lift || b.count - a.count || a.to.localeCompare(b.to));
    hints.push(...list.slice(0, perCategory));
  }
  return new ComplementTable(hints);
}
