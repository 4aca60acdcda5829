/**
 * Training checkpoints: everything a run needs to continue exactly where it stopped.
 *
 *   <run>/checkpoints/step-000120/
 *       model.safetensors       parameters under their HF names (a loadable model on its own)
 *       config.json             HF config
 *       optimizer.safetensors   AdamW moments + the libtorch RNG state (as U8)
 *       trainer.json            step, optimiser step count, lr, data cursor, user state
 *   <run>/checkpoints/latest.json   {"step": 120, "dir": "step-000120"}
 *
 * A checkpoint is written into a temporary folder and renamed into place, and latest.json is
 * replaced atomically after that, so a crash at any moment leaves the previous checkpoint
 * intact and pointed to.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { getRngState, loadSafetensors, saveSafetensors, setRngState, tidy, type AdamW } from "../torch/index.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { toHFConfig } from "../lm/config.js";
import type { DecoderLM } from "../lm/model.js";

export interface TrainerState {
  step: number;
  optimizerSteps: number;
  lr: number;
  /** Anything else the stage needs to resume (data cursor, best eval, ...). */
  extra: Record<string, unknown>;
}

/**
 * Seconds after which a stage checkpoints even when its step interval has not come round. A
 * stage's interval is counted in steps (a quarter of the steps for SFT), and on a slow machine
 * that can be hours of work (1,500 full-prompt reading steps of ~19 s on an AVX2 CPU save every
 * 375 steps, about two hours); an interruption should cost minutes, not the interval.
 */
export const CHECKPOINT_SECONDS = 600;

/**
 * Whether a loop saves after step `done` (1-based): every `every` steps, at the last step, and
 * whenever `seconds` have passed since the previous save (or the start). Extra saves change
 * nothing about the run: a resumed run still reproduces the uninterrupted one.
 */
export function checkpointDue(done: number, o: { every: number; steps: number; seconds?: number; sinceLastSave: number }): boolean {
  return done % o.every === 0 || done === o.steps || o.sinceLastSave >= (o.seconds ?? CHECKPOINT_SECONDS);
}

/** `checkpointDue` for one loop, keeping the time of its last save: ask `due(done)` after each step, call `saved()` after each save. */
export function checkpointClock(o: { every: number; steps: number; seconds?: number }): { due(done: number): boolean; saved(): void } {
  let last = performance.now();
  return {
    due: (done) => checkpointDue(done, { ...o, sinceLastSave: (performance.now() - last) / 1000 }),
    saved: () => void (last = performance.now()),
  };
}

export function checkpointRoot(runDir: string): string {
  return join(runDir, "checkpoints");
}

export function saveCheckpoint(runDir: string, model: DecoderLM, opt: AdamW, state: TrainerState, { keep = 2 } = {}): string {
  const root = checkpointRoot(runDir);
  mkdirSync(root, { recursive: true });
  const name = `step-${String(state.step).padStart(6, "0")}`;
  const tmp = join(root, `.${name}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  saveSafetensors(join(tmp, "model.safetensors"), model.stateDict(), { format: "pt" });
  writeJsonAtomic(join(tmp, "config.json"), toHFConfig(model.config));
  tidy(() => saveSafetensors(join(tmp, "optimizer.safetensors"), { ...opt.stateTensors(), rng_state: getRngState() }));
  writeJsonAtomic(join(tmp, "trainer.json"), state);
  const final = join(root, name);
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  writeJsonAtomic(join(root, "latest.json"), { step: state.step, dir: name });
  prune(root, keep);
  return final;
}

/** The newest complete checkpoint's folder, or null when the run has none. */
export function latestCheckpoint(runDir: string): string | null {
  const pointer = join(checkpointRoot(runDir), "latest.json");
  if (!existsSync(pointer)) return null;
  const { dir } = JSON.parse(readFileSync(pointer, "utf8")) as { dir: string };
  const path = join(checkpointRoot(runDir), dir);
  if (!existsSync(join(path, "trainer.json"))) throw new Error(`${pointer} points to ${path}, which is not a complete checkpoint`);
  return path;
}

/** Restores parameters, optimiser moments and RNG state in place; returns the trainer state. */
export function loadCheckpoint(dir: string, model: DecoderLM, opt: AdamW): TrainerState {
  const state = JSON.parse(readFileSync(join(dir, "trainer.json"), "utf8")) as TrainerState;
  tidy(() => {
    model.loadStateDict(loadSafetensors(join(dir, "model.safetensors"), model.device).tensors);
    const { tensors } = loadSafetensors(join(dir, "optimizer.safetensors"), model.device);
    opt.loadState(tensors, state.optimizerSteps);
    const rng = tensors.rng_state;
    if (!rng) throw new Error(`${dir}/optimizer.safetensors has no rng_state`);
    setRngState(rng.device === "cpu" ? rng : rng.to({ device: "cpu" }));
  });
  opt.lr = state.lr;
  return state;
}

function prune(root: string, keep: number): void {
  const steps = readdirSync(root).filter((n) => /^step-\d+$/.test(n)).sort();
  for (const old of steps.slice(0, Math.max(0, steps.length - keep))) rmSync(join(root, old), { recursive: true, force: true });
}
