/**
 * Deterministic memory management: tidy() scopes, keep(), dispose(), `using`, the behaviour of
 * disposed tensors, and a long training loop whose tensor count and resident memory stay flat.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import * as torch from "../../src/torch/index.js";
import type { Tensor } from "../../src/torch/index.js";
import { assertThrowsMessage, checkNoLeaks } from "./helpers.js";

checkNoLeaks();

/** Asserts that fn leaves the addon's live tensor count where it found it, and returns fn's result. */
function assertNoNetTensors<R>(fn: () => R): R {
  const start = torch.liveTensors();
  const result = fn();
  assert.equal(torch.liveTensors(), start, "live tensors after the block");
  return result;
}

test("tidy disposes intermediates and returns its result to the caller", () => {
  assertNoNetTensors(() => {
    const start = torch.liveTensors();
    let intermediate: Tensor | undefined;
    const y = torch.tidy(() => {
      intermediate = torch.ones([4]).mul(2);
      return intermediate.add(1).sum();
    });
    assert.equal(intermediate!.disposed, true);
    assert.equal(y.disposed, false);
    assert.equal(y.item(), 12);
    assert.equal(torch.liveTensors(), start + 1, "only the result is alive");
    y.dispose();
  });
});

test("nested scopes: an inner result moves to the outer scope and is freed with it", () => {
  assertNoNetTensors(() => {
    let inner: Tensor | undefined;
    const outer = torch.tidy(() => {
      inner = torch.tidy(() => torch.zeros([2]).add(1));
      assert.equal(inner.disposed, false);
      return inner.mul(3);
    });
    assert.equal(inner!.disposed, true, "the inner result belonged to the outer scope");
    assert.deepEqual(outer.toArray(), [3, 3]);
    outer.dispose();
  });
});

test("tensors inside returned arrays, objects and Maps survive; everything else is freed", () => {
  assertNoNetTensors(() => {
    const result = torch.tidy(() => {
      torch.ones([8]).mul(5);
      return { list: [torch.zeros([1]), torch.ones([1])], nested: { deep: [torch.full([1], 3)] }, map: new Map([["m", torch.full([1], 4)]]), label: "x" };
    });
    const all = [...result.list, ...result.nested.deep, result.map.get("m")!];
    assert.deepEqual(all.map((t) => t.item()), [0, 1, 3, 4]);
    assert.equal(result.label, "x");
    torch.dispose(result);
    assert.ok(all.every((t) => t.disposed));
  });
});

test("kept tensors survive every scope until disposed", () => {
  assertNoNetTensors(() => {
    let kept: Tensor[] = [];
    torch.tidy(() => {
      torch.tidy(() => {
        kept = [torch.keep(torch.ones([2])), ...torch.keep([torch.zeros([1]), torch.zeros([1])])];
        torch.zeros([3]);
      });
    });
    assert.ok(kept.every((t) => t.kept && !t.disposed));
    assert.deepEqual(kept[0]!.toArray(), [1, 1]);
    torch.dispose(kept);
  });
});

test("`using` disposes at the end of the block", () => {
  assertNoNetTensors(() => {
    let escaped: Tensor;
    {
      using t = torch.ones([3]);
      escaped = t;
      assert.equal(torch.tidy(() => t.sum().item()), 3);
    }
    assert.equal(escaped.disposed, true);
  });
});

test("withTemp frees its tensor even when the callback throws", () => {
  assertNoNetTensors(() => {
    assert.equal(torch.withTemp(torch.ones([2]), (t) => t.numel), 2);
    assert.throws(() => torch.withTemp(torch.ones([2]), () => { throw new Error("boom"); }), /boom/);
  });
});

test("a disposed tensor throws an Error mentioning 'disposed' on use; disposing twice is harmless", () => {
  const t = torch.ones([2]);
  t.dispose();
  t.dispose();
  assert.equal(t.disposed, true);
  assert.equal(String(t), "Tensor(disposed)");
  assertThrowsMessage(() => t.add(1), /disposed/);
  assertThrowsMessage(() => t.toArray(), /disposed/);
  assertThrowsMessage(() => t.shape, /disposed/);
  torch.tidy(() => assertThrowsMessage(() => torch.cat([torch.ones([1]), t]), /disposed/));
  const out = torch.tidy(() => torch.ones([1]));
  out.dispose();
  assertThrowsMessage(() => torch.tidy(() => out.mul(2)), /disposed/);
});

test("an exception inside tidy frees the scope's tensors and propagates", () => {
  assertNoNetTensors(() => {
    let made: Tensor | undefined;
    assert.throws(
      () =>
        torch.tidy(() => {
          made = torch.ones([16]);
          torch.tidy(() => torch.zeros([16]).add(made!));
          made.matmul(torch.ones([3, 3])); // shape mismatch: a native error in the middle of the scope
        }),
      /matmul/,
    );
    assert.equal(made!.disposed, true);
    // The scope stack is intact: a later tidy still works and cleans up.
    assert.equal(torch.tidy(() => torch.ones([2]).sum().item()), 2);
  });
});

test("grads read inside tidy are freed with the scope, the parameter's grad itself remains", () => {
  const p = torch.keep(torch.ones([3]).requiresGrad_());
  assertNoNetTensors(() => {
    torch.tidy(() => p.mul(2).sum().backward());
    torch.tidy(() => assert.deepEqual(p.grad!.toArray(), [2, 2, 2]));
    torch.tidy(() => assert.deepEqual(p.grad!.toArray(), [2, 2, 2]));
  });
  p.dispose();
});

test(
  "tidy rejects an async fn without leaking the tensors it made",
  () => {
    assertNoNetTensors(() => {
      assert.throws(() => torch.tidy((async () => { torch.ones([1]); }) as () => unknown), /synchronous/);
    });
  },
);

test("the finalizer frees a tensor that escaped every scope once it is garbage-collected (safety net)", async () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const collect = async (rounds: number, until = () => false) => {
    for (let i = 0; i < rounds && !until(); i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await collect(5); // let earlier garbage finalize first
  const start = torch.liveTensors();
  (() => {
    torch.ones([4]); // no scope, no reference kept
  })();
  assert.equal(torch.liveTensors(), start + 1);
  await collect(50, () => torch.liveTensors() === start);
  assert.equal(torch.liveTensors(), start);
});

test("3,000 training steps in tidy keep the tensor count constant and resident memory flat", () => {
  torch.manualSeed(0);
  const params = torch.tidy(() => torch.keep([torch.randn([32, 16]).mul(0.1), torch.zeros([32]), torch.randn([4, 32]).mul(0.1), torch.zeros([4])]).map((p) => p.requiresGrad_()));
  const [w1, b1, w2, b2] = params as [Tensor, Tensor, Tensor, Tensor];
  const x = torch.keep(torch.randn([64, 16]));
  const y = torch.keep(torch.randint(0, 4, [64]));
  const opt = new torch.AdamW(params, { lr: 1e-2, weightDecay: 0.01 });
  const step = (i: number) =>
    torch.tidy(() => {
      const h = torch.linear(x, w1, b1).silu();
      const loss = torch.crossEntropy(torch.linear(h, w2, b2), y);
      loss.backward();
      torch.clipGradNorm(params, 1);
      opt.lr = torch.warmupCosineLr(i, { maxLr: 1e-2, warmupSteps: 100, totalSteps: 3000 });
      opt.step();
      opt.zeroGrad();
      return loss.item();
    });
  try {
    const first = step(0);
    for (let i = 1; i < 300; i++) step(i); // warm-up: allocator caches and JIT settle
    const tensors = torch.liveTensors();
    const rss = process.memoryUsage().rss;
    let last = first;
    for (let i = 300; i < 3000; i++) {
      last = step(i);
      if (i % 100 === 0) assert.equal(torch.liveTensors(), tensors, `live tensors at step ${i}`);
    }
    assert.equal(torch.liveTensors(), tensors);
    const growthMb = (process.memoryUsage().rss - rss) / 2 ** 20;
    assert.ok(growthMb < 30, `resident memory grew by ${growthMb.toFixed(1)} MB over 2,700 steps`);
    assert.ok(last < first, `the loss went down (${first} → ${last})`);
  } finally {
    opt.dispose();
    torch.dispose([params, x, y]);
  }
});

test("large buffers (the caching allocator's path) freed and re-allocated 500 times keep resident memory flat", () => {
  const start = torch.liveTensors();
  // 0.25 to 2.5 MB tensors of five sizes, each made and freed every step.
  const step = (i: number) => torch.tidy(() => torch.ones([64 * (1 + (i % 5)) * 4, 256]).mul(2).add(1).sum().item());
  for (let i = 0; i < 50; i++) step(i);
  const rss = process.memoryUsage().rss;
  for (let i = 0; i < 500; i++) assert.equal(step(i), 3 * 64 * (1 + (i % 5)) * 4 * 256);
  const growthMb = (process.memoryUsage().rss - rss) / 2 ** 20;
  assert.ok(growthMb < 30, `resident memory grew by ${growthMb.toFixed(1)} MB over 500 steps`);
  assert.equal(torch.liveTensors(), start);
});
