/** The data layer's public surface; other folders import from here. */
export * from "./types.js";
export { DataError, FetchError } from "./errors.js";
export { cleanText, itemText, normaliseWhitespace, unescapeHtml } from "./text.js";
export { parseTsv, type TsvRecord } from "./tsv.js";
export { readAmazon } from "./amazon.js";
export { readRecbole } from "./recbole.js";
export { readMovieLens, MOVIELENS_GENRES } from "./movielens.js";
export { readJsonl } from "./jsonl.js";
export { generateSynthetic, SYNTHETIC_DEFAULTS, type SyntheticOptions } from "./synthetic.js";
export { Rng, WeightedTable } from "../util/rng.js";
export { leaveOneOut, trainExamples, type SplitOptions } from "./split.js";
export { loadDataset, DATA_DIR_ENV, type LoadOptions } from "./load.js";
export { datasetStats, type DatasetStats } from "./stats.js";
export { fetchDataset, fetchFiles, type FetchOptions, type FetchResult, type FetchedFile } from "./fetch.js";
export { DATASET_SOURCES, findDatasetSource, rawUrl, type DatasetSource, type SourceFile } from "./sources.js";
