/**
 * Semantic IDs: the public surface other stages import (`../sid/index.js`).
 * Build with `buildSids`, persist with `writeSidArtefacts`, read back with `readSidMap`, and
 * map between items and SID strings with `SidMap` / `parseSid` / `formatSid`.
 */
export * from "./matrix.js";
export { randomizedSvd, symmetricEigen, scaleColumns, type SvdOptions, type SvdResult } from "./svd.js";
export { Rng, hashInt } from "./rng.js";
export { tfidfEmbeddings, tfidfMatrix, tokenize, type TfidfOptions, type TfidfEmbeddings } from "./embed-tfidf.js";
export { coocEmbeddings, cooccurrenceCounts, ppmi, type CoocOptions, type CoocEmbeddings } from "./embed-cooc.js";
export { remoteEmbeddings, embeddingsUrl, embeddingCacheKey, type RemoteEmbeddingOptions, type RemoteEmbeddings } from "./embed-remote.js";
export { readEmbeddingFile, parseEmbeddingJsonl, embeddingFormatOf, type EmbeddingFileOptions, type FileEmbeddings } from "./embed-file.js";
export { combineEmbeddings, type EmbeddingPart, type CombinedEmbeddings } from "./embed.js";
export { parseSafetensors, encodeSafetensors, type SafetensorsFile, type FloatTensor } from "./safetensors.js";
export { parseNpy, encodeNpy, type NpyArray } from "./npy.js";
export * from "./quantiser.js";
export { RqKMeans, RqKMeansModel, type RqKMeansOptions } from "./rqkmeans.js";
export { resolveCollisions, uniqueness, collisionGroups, type CollisionResult, type CollisionGroup, type CollisionOptions } from "./collisions.js";
export { buildReport, levelStats, reconstructionError, categoryAlignment, purityAndNmi, type SidReport } from "./report.js";
export * from "./sidmap.js";
export {
  buildSids, writeSidArtefacts, makeQuantiser, registerQuantiser, quantiserMethods,
  type EmbeddingSource, type SidBuildInput, type SidBuildOptions, type SidBuildResult,
} from "./build.js";
export { benchEncode, type EncodeBenchOptions, type EncodeBenchResult } from "./bench.js";
