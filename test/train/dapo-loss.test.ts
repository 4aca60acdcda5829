import { test } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../../src/torch/index.js";
import { advantageAgainst, dapoPolicyLoss, firstErrorAdvantages, groupAdvantages, groupsWithSignal, k3KL, overlongPenalty, reverseKL } from "../../src/train/dapo/loss.js";

import { scoreOutcome } from "../../src/reward/registry.js";

const t = (xs: number[], shape: number[]) => torch.tensor(xs, shape);

test("the DAPO loss at ratio 1 is minus the token-mean advantage", () => {
  torch.tidy(() => {
    const logp = t([-1, -2, -3, -1, -1, -1], [2, 3]);
    const mask = t([1, 1, 0, 1, 1, 1], [2, 3]);
    const r = dapoPolicyLoss(logp, logp, t([1, -0.5], [2]), mask);
    // (1 + 1 + (-0.5)·3) / 5 tokens
    assert.ok(Math.abs(r.loss.item() - -(2 - 1.5) / 5) < 1e-6);
    assert.equal(r.clipFracLow, 0);
    assert.equal(r.clipFracHigh, 0);
  });
});

test("clip-higher: positive advantages are clipped at 1+eps_high, negative ones at 1-eps_low", () => {
  torch.tidy(() => {
    const old = t([0, 0], [1, 2]);
    const mask = t([1, 1], [1, 2]);
    // ratio e^0.5 ≈ 1.65 > 1.28: with A > 0 the objective is capped at 1.28·A.
    const up = dapoPolicyLoss(t([0.5, 0.5], [1, 2]), old, t([1], [1]), mask);
    assert.ok(Math.abs(up.loss.item() - -1.28) < 1e-6);
    assert.equal(up.clipFracHigh, 1);
    // ratio e^-1 ≈ 0.37 < 0.8: with A < 0 the objective is min(0.37·A, 0.8·A) = 0.8·A.
    const down = dapoPolicyLoss(t([-1, -1], [1, 2]), old, t([-1], [1]), mask);
    assert.ok(Math.abs(down.loss.item() - 0.8) < 1e-6);
    assert.equal(down.clipFracLow, 1);
  });
});

test("the gradient pushes up the log-prob of tokens with positive advantage", () => {
  torch.tidy(() => {
    const logp = t([-1, -1], [1, 2]).requiresGrad_();
    const r = dapoPolicyLoss(logp, t([-1, -1], [1, 2]), t([2], [1]), t([1, 1], [1, 2]));
    r.loss.backward();
    assert.ok(logp.grad!.toArray().every((g) => g < 0), "minimising −J raises logp");
  });
});

test("k3 KL is zero at equality and positive otherwise", () => {
  torch.tidy(() => {
    const kl = k3KL(t([-1, -2], [2]), t([-1, -1], [2])).toArray();
    assert.equal(kl[0], 0);
    assert.ok(kl[1]! > 0);
  });
});

test("group advantages, overlong shaping and the dynamic-sampling filter", () => {
  const a = groupAdvantages([1, 0, 0, 1, 0.5, 0.5], 2);
  assert.ok(Math.abs(a[0]! - 1) < 1e-5 && Math.abs(a[1]! + 1) < 1e-5);
  assert.deepEqual(a.slice(4), [0, 0]);
  assert.equal(overlongPenalty(80, 100, 20), 0);
  assert.equal(overlongPenalty(90, 100, 20, 1), -0.5);
  assert.equal(overlongPenalty(120, 100, 20), -1);
  assert.deepEqual(groupsWithSignal([1, 1, 0, 1, 0.2, 0.2], 2), [1]);
  assert.throws(() => groupAdvantages([1, 2, 3], 2), /groups of 2/);
});

test("firstErrorAdvantages: an invalid answer's Â sits on its first error token only; the others keep Â on every token", () => {
  assert.equal(firstErrorAdvantages([1, -1], [3, 2], [null, null]), null, "no error position: one Â per answer");
  // Three answers of lengths 3, 2, 4 (L = 4); the second went wrong at its token 1.
  assert.deepEqual(firstErrorAdvantages([0.5, -1.5, 1], [3, 2, 4], [null, 1, null]), [0.5, 0.5, 0.5, 0.5, 0, -1.5, 0, 0, 1, 1, 1, 1]);
  assert.throws(() => firstErrorAdvantages([1], [2], [2]), /2 tokens, so no error at token 2/);
  // As a loss: only the error token of the invalid answer gets gradient.
  const logp = t([-1, -1, -1, -1], [1, 4]).requiresGrad_();
  const A = t(firstErrorAdvantages([-1], [4], [2])!, [1, 4]);
  dapoPolicyLoss(logp, logp.detach(), A, t([1, 1, 1, 1], [1, 4])).loss.backward();
  assert.deepEqual([...logp.grad!.toFloat32Array()].map((g) => Math.round(g * 100) / 100 + 0), [0, 0, 0.25, 0]);
});

test("reverseKL: zero against itself, the closed form for two distributions, gradient only through the student", () => {
  torch.tidy(() => {
    const p = torch.tensor([0.7, 0.2, 0.1], [1, 1, 3]).log();
    const q = torch.tensor([0.2, 0.5, 0.3], [1, 1, 3]).log();
    assert.ok(Math.abs(reverseKL(p, p).item()) < 1e-7);
    const expected = 0.7 * Math.log(0.7 / 0.2) + 0.2 * Math.log(0.2 / 0.5) + 0.1 * Math.log(0.1 / 0.3);
    assert.ok(Math.abs(reverseKL(p, q).item() - expected) < 1e-6);
    assert.deepEqual(reverseKL(p, q).shape, [1, 1]);
    // Minimising it moves the student's logits toward the teacher's distribution.
    const logits = torch.tensor([2, 0, -1], [1, 1, 3]).requiresGrad_(true);
    reverseKL(logits.logSoftmax(-1), q).sum().backward();
    const g = logits.grad!.toArray() as number[];
    assert.ok(g[0]! > 0 && g[1]! < 0, `gradient ${g.map((x) => x.toFixed(3))}`);
  });
});

test("advantageAgainst: a group member's Â, null for a flat group", () => {
  const group = [0.5, -0.2, 0.1, 0.3];
  const A = groupAdvantages(group, 4);
  group.forEach((r, i) => assert.ok(Math.abs(advantageAgainst(r, group)! - A[i]!) < 1e-9));
  assert.equal(advantageAgainst(1, [0.2, 0.2, 0.2]), null);
});

test("the copy's advantage: the naive reward pulls toward the copy where the conditional one pulls away", () => {
  // One list, K = 10, target third in the incoming order. Eight valid samples whose R_rank
  // averages slightly below 0 (two promote it, four demote it): the copy (R_rank = 0) beats
  // them on average, and the naive reward's α, paid to all of them, cancels in Â. The
  // conditional reward pays α only to the two promoting samples, which sinks the copy below
  // the group mean.
  const K = 10;
  const rankPre = 3;
  const withTargetAt = (rankRe: number) => {
    const rest = Array.from({ length: K }, (_, i) => i).filter((i) => i !== rankPre - 1);
    rest.splice(rankRe - 1, 0, rankPre - 1);
    return rest;
  };
  const samples = [1, 2, 3, 5, 5, 4, 3, 4].map(withTargetAt);
  const copy = Array.from({ length: K }, (_, i) => i);
  const copyAdvantage = (reward: string) =>
    advantageAgainst(
      scoreOutcome(reward, { order: copy, rankPre, listSize: K }),
      samples.map((order) => scoreOutcome(reward, { order, rankPre, listSize: K })),
    )!;
  assert.ok(copyAdvantage("naive") > 0, `naive ${copyAdvantage("naive")}`);
  assert.ok(copyAdvantage("conditional") < 0, `conditional ${copyAdvantage("conditional")}`);
  // Samples that beat the copy on average: neither reward pulls toward it.
  const better = [1, 1, 2, 3, 3, 4, 1, 2].map(withTargetAt);
  for (const reward of ["naive", "conditional"]) {
    const a = advantageAgainst(scoreOutcome(reward, { order: copy, rankPre, listSize: K }), better.map((order) => scoreOutcome(reward, { order, rankPre, listSize: K })))!;
    assert.ok(a < 0, `${reward} ${a}`);
  }
});
