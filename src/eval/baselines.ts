/**
 * The baselines GR2 must beat (docs/architecture.md, Protocol), evaluated on the same test lists: the incoming
 * order, a random order, a popularity re-sort, and the trained listwise re-ranker (learnt on
 * the valid lists, epoch chosen on held-out users). With `ablation`, a second listwise model
 * that does not see the incoming positions shows how much of the gain is the upstream order
 * itself (positional priors) rather than item content.
 */
import type { Item } from "../data/types.js";
import type { CandidateList } from "../rank/candidates.js";
import { ListwiseReranker, type ListwiseConfig } from "../rank/baselines/listwise.js";
import { trainListwise, type ListwiseTrainOptions, type ListwiseTrainResult } from "../rank/baselines/listwise-train.js";
import type { ListReranker } from "../rank/baselines/reranker.js";
import { IncomingOrder, PopularityResort, RandomOrder } from "../rank/baselines/simple.js";
import { itemCounts } from "../rank/popularity.js";
import { itemTextFeatures, type TextFeatures } from "../rank/text-features.js";
import type { BootstrapOptions } from "./bootstrap.js";
import { evaluateRerankers, type RerankEvaluation } from "./evaluate.js";

export interface BaselineOptions {
  items: readonly Item[];
  trainSequences: readonly (readonly number[])[];
  validLists: readonly CandidateList[];
  testLists: readonly CandidateList[];
  /** Already trained listwise re-rankers (skips training). */
  listwise?: ListwiseReranker[];
  listwiseConfig?: Partial<Omit<ListwiseConfig, "numItems" | "textDim">>;
  listwiseTrain?: ListwiseTrainOptions;
  /** Also train the listwise model without incoming positions. */
  ablation?: boolean;
  /** Text feature dimension (0 = no text features). */
  textDim?: number;
  /** Seed of the random-order baseline. */
  randomSeed?: number;
  bootstrap?: BootstrapOptions;
  /** Further re-rankers evaluated beside them (e.g. the evidence scorer). */
  extra?: readonly ListReranker[];
  onStage?: (stage: string) => void;
}

export interface BaselineResult {
  evaluation: RerankEvaluation;
  /** The listwise models trained here (none when they were given). */
  trained: ListwiseTrainResult[];
  /** Every method evaluated, so callers can score further lists with the same baselines. */
  rerankers: ListReranker[];
}

export function evaluateBaselines(o: BaselineOptions): BaselineResult {
  const numItems = o.items.length;
  const trained: ListwiseTrainResult[] = [];
  let listwise = o.listwise;
  if (!listwise) {
    o.onStage?.("text features");
    const textDim = o.textDim ?? 64;
    const text: TextFeatures | null = textDim > 0 ? itemTextFeatures(o.items, { dim: textDim, seed: o.listwiseTrain?.seed ?? 0 }) : null;
    const variants: { name: string; usePosition: boolean }[] = [{ name: "listwise", usePosition: true }];
    if (o.ablation) variants.push({ name: "listwise-no-position", usePosition: false });
    listwise = variants.map((v) => {
      o.onStage?.(`training ${v.name} on ${o.validLists.length} valid lists`);
      // The ablation sees neither positions nor scores: scores would give the order back.
      const r = trainListwise(o.validLists, numItems, text, { ...o.listwiseConfig, usePosition: v.usePosition, useScores: v.usePosition && (o.listwiseConfig?.useScores ?? true) }, o.listwiseTrain, v.name);
      trained.push(r);
      return r.reranker;
    });
  }
  const rerankers: ListReranker[] = [
    new IncomingOrder(),
    new RandomOrder(o.randomSeed ?? 0),
    new PopularityResort(itemCounts(o.trainSequences, numItems)),
    ...listwise,
    ...(o.extra ?? []),
  ];
  o.onStage?.(`evaluating ${rerankers.length} methods on ${o.testLists.length} test lists`);
  return { evaluation: evaluateRerankers(o.testLists, rerankers, o.bootstrap), trained, rerankers };
}
