/**
 * The package's entry point (`main` in package.json): the functions a library user calls,
 * stage by stage in the order data flows (docs/architecture.md). Everything else is reachable
 * by its module path under dist/src/; the engine has its own face in src/torch/index.ts.
 */

// data: readers and the leave-one-out split
export { loadDataset, DATA_DIR_ENV, type LoadOptions } from "./data/load.js";
export { generateSynthetic, type SyntheticOptions } from "./data/synthetic.js";
export { leaveOneOut, testWindow, trainExamples, lastTrainExamples, type SplitOptions } from "./data/split.js";
export type { Dataset, Catalogue, Interactions, Item, Example, Split } from "./data/types.js";

// semantic IDs
export { buildSids, writeSidArtefacts, type SidBuildInput, type SidBuildOptions, type SidBuildResult } from "./sid/build.js";
export { SidMap, readSidMap, writeSidMap, formatSid, parseSid } from "./sid/sidmap.js";

// upstream ranker and candidate lists
export { fitRanker, type FitOptions, type Fitted } from "./rank/fit.js";
export type { Ranker } from "./rank/ranker.js";
export { buildCandidateLists, readCandidateLists, writeCandidateLists, LIST_SIZE, type CandidateList } from "./rank/candidates.js";

// prompt, answer formats, parser, decoding constraint
export { buildRerankPrompt, datasetPromptContext, type PromptContext, type RerankPrompt, type RerankPromptOptions } from "./prompt/rerank-prompt.js";
export { OUTPUT_FORMATS, formatOutput, type OutputFormat } from "./prompt/output-format.js";
export { parseRerankOutput, type ParseResult } from "./prompt/parse-output.js";
export { permutationConstraint } from "./prompt/constraint.js";

// teachers and reasoning traces
export { generateTraces, type TraceRecord } from "./teacher/traces.js";
export { EvidenceTeacher } from "./teacher/evidence-teacher.js";
export { LlmTeacher } from "./teacher/llm-teacher.js";
export { ChatClient } from "./teacher/openai-client.js";
export type { Teacher, TraceMode } from "./teacher/teacher.js";

// rewards and hacking monitors
export { R_rank, conditionalReward, naiveReward, aucReward, ndcgReward, gradedNdcg, guardedListReward, DEFAULT_REWARD, type RankOutcome, type RewardConfig } from "./reward/rank.js";
export { monitor, type MonitorStats, type RolloutOutcome } from "./reward/monitors.js";

// language model and training stages
export { loadHFModel, loadHFTokenizer, saveHFModel } from "./lm/hf.js";
export { pretrain } from "./train/pretrain.js";
export { midtrain } from "./train/midtrain.js";
export { runSft, SFT_WEIGHTS } from "./train/sft.js";
export { runRl } from "./train/dapo/stage.js";
export { trainDapo, DAPO_DEFAULTS, type DapoConfig } from "./train/dapo/trainer.js";

// evaluation
export { evaluateRanks, evaluateRerankers, type MethodRanks, type RerankEvaluation } from "./eval/evaluate.js";
export { evaluateBaselines } from "./eval/baselines.js";
export { rerankWithModel } from "./eval/llm-rerank.js";
export { writeReport, type EvalReport } from "./eval/report.js";

// serving
export { Gr2Server, SERVER_DEFAULTS, type ServerOptions } from "./serve/server.js";
export { ModelSession, type SessionOptions } from "./serve/session.js";

// every stage end to end
export { runPipeline, type PipelineOptions, type PipelineResult } from "./pipeline/pipeline.js";
export { PIPELINE_PRESETS } from "./pipeline/presets.js";
