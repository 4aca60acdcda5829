/**
 * The task mixture: which task each packed example comes from, by configurable ratios of
 * *examples* (OneRec-Think's reference mixture: alignment 24.3%, sequential 65.7%, caption
 * 4.9%, general 5.0%; ours folds both caption directions into "caption", and gives 15% of the
 * sequential share to "candidates", the same next-item signal asked as a ranking of K given
 * SIDs, which teaches the copying the re-ranker's answers need; see tasks/candidates.ts).
 */
import type { Rng } from "../../util/rng.js";
import { TASK_NAMES, type MidtrainTask, type TaskName } from "./types.js";

export type TaskMixture = Record<TaskName, number>;

export const DEFAULT_MIXTURE: TaskMixture = { sequential: 0.5, candidates: 0.15, caption: 0.25, persona: 0.05, general: 0.05 };

/**
 * The mixture for a model that will become a re-ranker (the pipeline's presets): 45% of the
 * examples are `candidates`. Copying a list of SIDs without repeats is the skill every
 * re-ranking answer needs and the one a small model is slowest to learn; the sequential task
 * keeps the next-item signal. Measured on the demo model (synthetic catalogue, copy probe,
 * docs/benchmarks.md): 58% of answers were full permutations after 1,000 steps × 8 rows at
 * this mixture and 85% after 3,000 × 16, where the default mixture's 15% gave 0–1% at the
 * demo's budget; next-item retrieval still improved with training (beam R@10 0.34 after
 * 3,000 × 16 steps).
 */
export const RERANK_MIXTURE: TaskMixture = { sequential: 0.3, candidates: 0.45, caption: 0.15, persona: 0.05, general: 0.05 };

/** "sequential=0.7,caption=0.2,general=0.1": tasks left out get 0. */
export function parseMixture(spec: string): TaskMixture {
  const out: TaskMixture = { sequential: 0, candidates: 0, caption: 0, persona: 0, general: 0 };
  for (const part of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [name, value] = part.split("=").map((s) => s.trim());
    if (!TASK_NAMES.includes(name as TaskName)) throw new Error(`mixture: unknown task "${name}" (tasks: ${TASK_NAMES.join(", ")})`);
    const w = Number(value);
    if (value === undefined || value === "" || !Number.isFinite(w) || w < 0) throw new Error(`mixture: "${part}" needs a non-negative number, e.g. ${name}=0.5`);
    out[name as TaskName] = w;
  }
  return out;
}

/** Draws tasks by the mixture's weights, renormalised over the tasks that have examples. */
export class TaskSampler {
  readonly tasks: MidtrainTask[];
  /** Normalised weight per task in `tasks`. */
  readonly weights: number[];
  readonly #cumulative: number[];

  constructor(tasks: readonly MidtrainTask[], mixture: TaskMixture) {
    this.tasks = tasks.filter((t) => t.size > 0 && mixture[t.name] > 0);
    const total = this.tasks.reduce((a, t) => a + mixture[t.name], 0);
    if (this.tasks.length === 0 || !(total > 0)) throw new Error(`mixture: no task with examples has a positive weight (${JSON.stringify(mixture)})`);
    this.weights = this.tasks.map((t) => mixture[t.name] / total);
    let c = 0;
    this.#cumulative = this.weights.map((w) => (c += w));
  }

  pick(rng: Rng): MidtrainTask {
    const u = rng.next();
    const i = this.#cumulative.findIndex((c) => u < c);
    return this.tasks[i < 0 ? this.tasks.length - 1 : i]!;
  }

  /** The normalised mixture by task name. */
  get ratios(): Partial<TaskMixture> {
    return Object.fromEntries(this.tasks.map((t, i) => [t.name, this.weights[i]!]));
  }
}
