/** Fitting any upstream ranker by kind, on the train split only (docs/architecture.md, Protocol). */
import type { Split } from "../data/types.js";
import type { RankerKind } from "./checkpoint.js";
import { ItemKnnRanker, type ItemKnnOptions } from "./item-knn.js";
import { PopularityRanker } from "./popularity.js";
import type { Ranker } from "./ranker.js";
import { SasrecRanker, type SasrecConfig } from "./sasrec.js";
import { trainSasrec, type SasrecTrainOptions } from "./sasrec-train.js";

export interface FitOptions {
  sasrec?: Partial<Omit<SasrecConfig, "numItems">>;
  sasrecTrain?: SasrecTrainOptions;
  itemKnn?: ItemKnnOptions;
}

export interface Fitted {
  ranker: Ranker;
  /** What training did, for the checkpoint manifest and reports. */
  training: Record<string, unknown>;
}

export function fitRanker(kind: RankerKind, split: Split, numItems: number, o: FitOptions = {}): Fitted {
  const started = Date.now();
  const seconds = () => (Date.now() - started) / 1000;
  switch (kind) {
    case "popularity":
      return { ranker: PopularityRanker.fit(split.train, numItems), training: { seconds: seconds() } };
    case "item-knn":
      return { ranker: ItemKnnRanker.fit(split.train, numItems, o.itemKnn), training: { seconds: seconds() } };
    case "sasrec": {
      const r = trainSasrec(split, numItems, o.sasrec, o.sasrecTrain);
      const { onEpoch: _e, onStep: _s, ...options } = o.sasrecTrain ?? {};
      return {
        ranker: new SasrecRanker(r.model, o.sasrecTrain?.autocast ?? true),
        training: { options, epochs: r.log.length, bestEpoch: r.bestEpoch, bestValid: r.bestValid, log: r.log, seconds: r.seconds },
      };
    }
  }
}
