/**
 * `gr2 ablate rewards --run RUN_DIR --dataset NAME [--data-dir DIR] [--preset tiny|demo|beauty]
 *                     [--steps N] [--eval-every N] [--users N] [--json]`
 * Naive vs conditional reward from the run's SFT checkpoint (see src/pipeline/ablate-rewards.ts).
 */
import { parseArgs } from "node:util";
import { loadDataset } from "../data/load.js";
import { isPreset } from "../lm/presets.js";
import { ablateRewards } from "../pipeline/ablate-rewards.js";
import { isRewardName, REWARD_NAMES, type RewardName } from "../reward/registry.js";
import { DATASET_OPTIONS, datasetFlags, integerFlag, numberFlag, runSubcommands, UsageError } from "./args.js";

const USAGE = `usage: gr2 ablate rewards --run RUN_DIR --dataset NAME [--data-dir DIR] [--users N --items N --seed S]
                         [--preset tiny|demo|beauty] [--steps 12] [--eval-every 4] [--eval-users 200]
                         [--rewards naive,conditional] [--max-prompt-tokens N (default: as the SFT model was trained)] [--json]

  --rewards: comma-separated names from the reward registry (${REWARD_NAMES.join(", ")}).`;

export function ablateCommand(args: string[]): Promise<number> {
  return runSubcommands("ablate", USAGE, { rewards: rewardsCommand }, args);
}

async function rewardsCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { ...DATASET_OPTIONS, run: { type: "string" }, preset: { type: "string" }, steps: { type: "string" }, "eval-every": { type: "string" }, "eval-users": { type: "string" }, rewards: { type: "string" }, "max-prompt-tokens": { type: "string" }, device: { type: "string" }, json: { type: "boolean" } } });
  if (!values.run) throw new UsageError("--run RUN_DIR is required (a run folder with SFT done)");
  const preset = (values.preset as string | undefined) ?? "tiny";
  if (!isPreset(preset)) throw new UsageError(`--preset must be tiny, demo or beauty, got "${preset}"`);
  const rewards = ((values.rewards as string | undefined) ?? "naive,conditional").split(",").map((r) => r.trim());
  for (const r of rewards) if (!isRewardName(r)) throw new UsageError(`--rewards: unknown reward "${r}"; expected names from ${REWARD_NAMES.join(", ")}`);
  const maxPromptTokens = integerFlag(values, "max-prompt-tokens", 64);
  const ds = await loadDataset(datasetFlags(values));
  const r = await ablateRewards({
    dataset: ds,
    runDir: values.run as string,
    preset,
    steps: numberFlag(values, "steps", 12),
    evalEvery: numberFlag(values, "eval-every", 4),
    evalUsers: numberFlag(values, "eval-users", 200),
    maxPromptTokens,
    device: (values.device as string | undefined) ?? "cpu",
    seed: 0,
    rewards: rewards as RewardName[],
    log: values.json ? undefined : (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(values.json ? JSON.stringify({ points: r.points, report: r.reportPath }) + "\n" : `report: ${r.reportPath}\n`);
  return 0;
}
