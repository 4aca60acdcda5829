/**
 * The mid-training corpus: the five task generators (src/train/tasks/), mixed by ratios and
 * packed into full rows. `batch(shape, step, micro)` is a pure function of its arguments (each
 * row draws from a PRNG seeded by hash(seed, step, micro, row)), which is what the training
 * loop's exact resume needs, and the corpus itself is never materialised: an example is made
 * when a row needs it.
 *
 *   sequential  SID history → next SID                      train prefixes only
 *   candidates  SID history + K shuffled candidate SIDs → the next one first, then the rest
 *               (copying without repeats, as re-ranking answers need)   train prefixes only
 *   caption     SID → item text, and item text → SID         every catalogue item
 *   persona     persona line + SIDs interleaved with titles → next SID   train prefixes only
 *   general     catalogue text (as in pre-training)          every catalogue item
 */
import { hash32, Rng } from "../util/rng.js";
import { leaveOneOut } from "../data/split.js";
import type { Dataset } from "../data/types.js";
import type { TextTokenizer } from "../lm/tokenizer.js";
import type { SidMap } from "../sid/sidmap.js";
import type { Batch } from "./loop.js";
import { CaptionTask } from "./tasks/caption.js";
import { CandidatesTask } from "./tasks/candidates.js";
import { TaskContext } from "./tasks/context.js";
import { GeneralTextTask } from "./tasks/general.js";
import { DEFAULT_MIXTURE, TaskSampler, type TaskMixture } from "./tasks/mixture.js";
import { packRow, rowsToBatch, type PackedRow } from "./tasks/packing.js";
import { PersonaTask } from "./tasks/persona.js";
import { TrainPositions } from "./tasks/positions.js";
import { SequentialTask } from "./tasks/sequential.js";
import type { MidtrainTask, TaskName } from "./tasks/types.js";

export { DEFAULT_MIXTURE, parseMixture, TaskSampler, type TaskMixture } from "./tasks/mixture.js";
export { packRow, rowsToBatch, type PackedRow } from "./tasks/packing.js";
export { TaskContext, sequentialPrompt, candidatesPrompt, itemSidTokens, encodeFragments, FRAGMENTS, type Fragments } from "./tasks/context.js";
export { TrainPositions } from "./tasks/positions.js";
export { SequentialTask } from "./tasks/sequential.js";
export { CandidatesTask } from "./tasks/candidates.js";
export { CaptionTask } from "./tasks/caption.js";
export { PersonaTask } from "./tasks/persona.js";
export { GeneralTextTask } from "./tasks/general.js";
export { MidtrainTask, TASK_NAMES, type TaskExample, type TaskName } from "./tasks/types.js";

export interface CorpusOptions {
  mixture?: TaskMixture;
  /** History items in sequential prompts (default 20, TIGER's). */
  maxHistory?: number;
  /** History items in persona prompts (default 8: they carry titles too). */
  personaHistory?: number;
  /** Candidates per candidate-ranking example (default 10) and history items shown with them (default 8). */
  candidates?: number;
  candidatesHistory?: number;
}

export interface BatchShape {
  batch: number;
  seqLen: number;
  seed: number;
  device?: string;
}

export class MidtrainCorpus {
  readonly sampler: TaskSampler;

  constructor(
    readonly context: TaskContext,
    readonly tasks: Record<TaskName, MidtrainTask>,
    mixture: TaskMixture = DEFAULT_MIXTURE,
  ) {
    this.sampler = new TaskSampler(Object.values(tasks), mixture);
  }

  /** Tokenises the catalogue and builds the five tasks on the dataset's leave-one-out train prefixes. */
  static async create(ds: Dataset, sidMap: SidMap, tokenizer: TextTokenizer, o: CorpusOptions = {}): Promise<MidtrainCorpus> {
    const ctx = await TaskContext.create(ds, sidMap, tokenizer);
    const positions = new TrainPositions(leaveOneOut(ds.interactions, { skipShortUsers: true }).train);
    const tasks = {
      sequential: new SequentialTask(ctx, positions, o.maxHistory ?? 20),
      candidates: new CandidatesTask(ctx, positions, o.candidatesHistory ?? 8, o.candidates ?? 10),
      caption: new CaptionTask(ctx),
      persona: new PersonaTask(ctx, positions, o.personaHistory ?? 8),
      general: new GeneralTextTask(ctx),
    };
    return new MidtrainCorpus(ctx, tasks, o.mixture ?? DEFAULT_MIXTURE);
  }

  /** Row `row` of micro-batch (step, micro): examples drawn by the mixture until T + 1 tokens are full. */
  row(shape: Pick<BatchShape, "seqLen" | "seed">, step: number, micro: number, row: number, tally?: Map<TaskName, number>): PackedRow {
    const rng = new Rng(hash32(shape.seed, step, micro, row));
    return packRow(() => {
      const task = this.sampler.pick(rng);
      tally?.set(task.name, (tally.get(task.name) ?? 0) + 1);
      return task.sample(rng);
    }, shape.seqLen + 1);
  }

  batch(shape: BatchShape, step: number, micro: number): Batch {
    const rows = Array.from({ length: shape.batch }, (_, b) => this.row(shape, step, micro, b));
    return rowsToBatch(rows, shape.device);
  }
}
