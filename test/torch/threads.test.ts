/**
 * The engine's thread pools sleep when idle unless the user chose otherwise: the addon's loader
 * sets OMP_WAIT_POLICY and OPENBLAS_THREAD_TIMEOUT before libgomp and OpenBLAS read them (they
 * read them once, when loaded). Checked in child processes, whose environment this test controls.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import * as torch from "../../src/torch/index.js";
import { THREAD_POOL_DEFAULTS } from "../../src/torch/native.js";

const index = new URL("../../src/torch/index.js", import.meta.url).href;

/** The two settings as a child process sees them after loading the engine and running a matmul. */
function childSettings(env: Record<string, string | undefined>): Record<string, string> {
  const script = `import * as torch from ${JSON.stringify(index)};
    torch.tidy(() => torch.randn([256, 256]).matmul(torch.randn([256, 256])).sum().item());
    console.log(JSON.stringify({ OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY, OPENBLAS_THREAD_TIMEOUT: process.env.OPENBLAS_THREAD_TIMEOUT }));`;
  const childEnv = { ...process.env };
  for (const name of Object.keys(THREAD_POOL_DEFAULTS)) delete childEnv[name];
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000, env: { ...childEnv, ...env } });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout.trim().split("\n").at(-1)!);
}

test("idle thread pools sleep by default: passive OpenMP waits, OpenBLAS's shortest spin", () => {
  assert.deepEqual(THREAD_POOL_DEFAULTS, { OMP_WAIT_POLICY: "passive", OPENBLAS_THREAD_TIMEOUT: "4" });
  assert.deepEqual(childSettings({}), THREAD_POOL_DEFAULTS);
});

test("a user's own thread-pool settings are kept", () => {
  assert.deepEqual(childSettings({ OMP_WAIT_POLICY: "active", OPENBLAS_THREAD_TIMEOUT: "28" }), { OMP_WAIT_POLICY: "active", OPENBLAS_THREAD_TIMEOUT: "28" });
});

test("the addon's own kernels run on every intra-op thread (compiled with OpenMP, not serially)", () => {
  torch.withThreads(2, () => assert.equal(torch.parallelForThreads(64), 2));
  torch.withThreads(1, () => assert.equal(torch.parallelForThreads(64), 1));
});
