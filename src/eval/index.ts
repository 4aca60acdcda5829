/** The eval layer's public surface: metrics, bootstrap intervals, evaluations and reports. */
export { metricAtRank, perUserMetrics, meanMetrics, fullRankingRanks, fullRankingMetrics, RERANK_METRICS, FULL_RANKING_METRICS, type MetricName, type FullRankingMetrics } from "./metrics.js";
export { Resamples, rankMetricIntervals, quantile, significance, BOOTSTRAP_DEFAULTS, type BootstrapOptions, type Interval } from "./bootstrap.js";
export { evaluateRerankers, evaluateRanks, fullRankingIntervals, histogram, type MethodRanks, type MethodResult, type RerankEvaluation } from "./evaluate.js";
export { evaluateBaselines, type BaselineOptions, type BaselineResult } from "./baselines.js";
export { writeReport, reportMarkdown, reportCharts, machineInfo, type EvalReport, type UpstreamSummary } from "./report.js";
export { groupedBars, positionPanels } from "./charts.js";
export { sceneToSvg } from "./svg.js";
export { sceneToPng } from "./png.js";
