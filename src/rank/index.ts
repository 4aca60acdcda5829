/** The rank layer's public surface: upstream rankers, candidate lists, list re-ranker baselines. */
export { type Ranker, scoreInBatches, rankOfTarget, topItems, SCORE_BATCH } from "./ranker.js";
export { PopularityRanker, itemCounts } from "./popularity.js";
export { ItemKnnRanker, ITEM_KNN_DEFAULTS, type ItemKnnOptions } from "./item-knn.js";
export { Sasrec, SasrecRanker, SASREC_DEFAULTS, type SasrecConfig } from "./sasrec.js";
export { trainSasrec, SASREC_TRAIN_DEFAULTS, type SasrecTrainOptions, type SasrecTrainResult, type SasrecLoss, type EpochLog } from "./sasrec-train.js";
export { fitRanker, type FitOptions, type Fitted } from "./fit.js";
export { saveRanker, loadRanker, readRankerManifest, RANKER_KINDS, type RankerKind, type RankerManifest } from "./checkpoint.js";
export {
  buildCandidateLists,
  readCandidateLists,
  writeCandidateLists,
  parseNegatives,
  formatNegatives,
  toLine,
  LIST_SIZE,
  SPLITS,
  type CandidateList,
  type CandidateLine,
  type ListSplit,
  type EvalSplit,
  LIST_SPLITS,
  type NegativeStrategy,
} from "./candidates.js";
export { itemTextFeatures, type TextFeatures } from "./text-features.js";
export { type ListReranker, orderByScore, reorder, rerankedRanks, incomingRanks } from "./baselines/reranker.js";
export { IncomingOrder, RandomOrder, PopularityResort } from "./baselines/simple.js";
export { ListwiseModel, ListwiseReranker, LISTWISE_DEFAULTS, type ListwiseConfig } from "./baselines/listwise.js";
export { trainListwise, saveListwise, loadListwise, holdOutUsers, LISTWISE_TRAIN_DEFAULTS, type ListwiseTrainOptions, type ListwiseTrainResult } from "./baselines/listwise-train.js";
