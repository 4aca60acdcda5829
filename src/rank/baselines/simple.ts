/**
 * The baselines that need no training: keep the incoming order, shuffle it (seeded), or re-sort
 * by train-split popularity. A re-ranker that cannot beat these has learnt nothing.
 */
import { Rng } from "../../data/rng.js";
import type { CandidateList } from "../candidates.js";
import type { ListReranker } from "./reranker.js";

/** The upstream order unchanged: the reference every paired difference is taken against. */
export class IncomingOrder implements ListReranker {
  readonly name = "incoming";
  scoreLists(lists: readonly CandidateList[]): Float32Array[] {
    return lists.map((l) => Float32Array.from(l.candidates, (_, i) => -i));
  }
}

/** A uniformly random order per list, from a seeded generator (same seed, same orders). */
export class RandomOrder implements ListReranker {
  readonly name = "random";
  constructor(readonly seed = 0) {}
  scoreLists(lists: readonly CandidateList[]): Float32Array[] {
    const rng = new Rng(this.seed);
    return lists.map((l) => Float32Array.from(l.candidates, () => rng.next()));
  }
}

/** Most-interacted-with first (train-split counts); ties keep the incoming order. */
export class PopularityResort implements ListReranker {
  readonly name = "popularity";
  constructor(readonly counts: Float32Array) {}
  scoreLists(lists: readonly CandidateList[]): Float32Array[] {
    return lists.map((l) => Float32Array.from(l.candidates, (c) => this.counts[c] ?? 0));
  }
}
