/**
 * `gr2 distill --run RUN_DIR --teacher-model DIR --dataset NAME [--data-dir DIR] [--preset demo]
 *              [--from DIR] [--steps 50] [--prompts-per-step N] [--group-size G] [--lr X]
 *              [--coef 1] [--estimator exact|k3] [--reward conditional] [--eval-users 0] [--json]`
 * On-policy distillation into a student that shares the teacher's tokenizer
 * (src/pipeline/distill.ts), then teacher vs student on the run's test lists.
 */
import { parseArgs } from "node:util";
import { loadDataset } from "../data/load.js";
import { isPreset } from "../lm/presets.js";
import { distill } from "../pipeline/distill.js";
import { REWARD_NAMES } from "../reward/registry.js";
import { choiceFlag, DATASET_OPTIONS, datasetFlags, integerFlag, numberFlag, runCommand, UsageError } from "./args.js";

const USAGE = `usage: gr2 distill --run RUN_DIR --teacher-model DIR --dataset NAME [--data-dir DIR] [--users N --items N --seed S]
                   [--preset tiny|demo|beauty] [--from DIR (default: the run's mid-trained model)]
                   [--steps 50] [--prompts-per-step N] [--group-size G] [--lr X]
                   [--coef 1] [--estimator exact|k3] [--reward ${REWARD_NAMES.join("|")}]
                   [--eval-users 0 (test lists compared; 0 = all)] [--device cpu] [--json]

  On-policy distillation (technical report §OPD): the student samples its own answers to the
  run's learning lists, prompted as the teacher was trained; each token is pulled toward the
  teacher's distribution (reverse KL, --coef) beside DAPO's reward term. Student and teacher
  must share one tokenizer. Writes RUN_DIR/opd/model and RUN_DIR/opd/report.json.`;

export function distillCommand(args: string[]): Promise<number> {
  return runCommand("distill", USAGE, async () => {
    const { values } = parseArgs({
      args,
      options: {
        ...DATASET_OPTIONS,
        run: { type: "string" },
        "teacher-model": { type: "string" },
        from: { type: "string" },
        preset: { type: "string" },
        steps: { type: "string" },
        "prompts-per-step": { type: "string" },
        "group-size": { type: "string" },
        lr: { type: "string" },
        coef: { type: "string" },
        estimator: { type: "string" },
        reward: { type: "string" },
        "eval-users": { type: "string" },
        device: { type: "string" },
        json: { type: "boolean" },
      },
    });
    if (!values.run) throw new UsageError("--run RUN_DIR is required (a run folder with SIDs, candidate lists and mid-training done)");
    if (!values["teacher-model"]) throw new UsageError("--teacher-model DIR is required (a re-ranker trained by this package, e.g. RUN/direct/model)");
    const preset = (values.preset as string | undefined) ?? "demo";
    if (!isPreset(preset)) throw new UsageError(`--preset must be tiny, demo or beauty, got "${preset}"`);
    const ds = await loadDataset(datasetFlags(values));
    const r = await distill({
      dataset: ds,
      runDir: values.run as string,
      preset,
      teacher: values["teacher-model"] as string,
      from: values.from as string | undefined,
      steps: integerFlag(values, "steps", 1) ?? 50,
      promptsPerStep: integerFlag(values, "prompts-per-step", 1),
      groupSize: integerFlag(values, "group-size", 2),
      lr: numberFlag(values, "lr", undefined, { min: 0 }),
      coef: numberFlag(values, "coef", 1, { min: 0 }),
      estimator: choiceFlag(values, "estimator", ["exact", "k3"] as const, "exact"),
      reward: choiceFlag(values, "reward", REWARD_NAMES, "conditional"),
      evalUsers: integerFlag(values, "eval-users", 0) ?? 0,
      device: (values.device as string | undefined) ?? "cpu",
      seed: 0,
      log: values.json ? undefined : (l) => process.stderr.write(`${l}\n`),
    });
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    const interval = r.retained_recall1_interval ? ` [${pct(r.retained_recall1_interval[0])}, ${pct(r.retained_recall1_interval[1])}]` : "";
    process.stdout.write(values.json ? JSON.stringify({ retained_recall1: r.retained_recall1, retained_recall1_interval: r.retained_recall1_interval, student_vs_before: r.student_vs_before, student_vs_teacher: r.student_vs_teacher, lists: r.lists, points: r.points, model: r.modelDir, report: r.reportPath }) + "\n" : `student keeps ${r.retained_recall1 === null ? "n/a (the teacher has no R@1 lift)" : `${pct(r.retained_recall1)}${interval}`} of the teacher's R@1 lift; report: ${r.reportPath}\n`);
    return 0;
  });
}
