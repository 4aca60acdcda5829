import { test } from "node:test";
import assert from "node:assert/strict";
import * as torch from "../../src/torch/index.js";
import { makeConfig } from "../../src/lm/config.js";
import { DecoderLM } from "../../src/lm/model.js";
import { generate } from "../../src/lm/generate.js";

test("resident memory and live tensors stay flat over a long train-and-generate loop", () => {
  torch.manualSeed(1);
  const model = new DecoderLM(makeConfig({ vocabSize: 128, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 64, maxPositions: 64 }));
  const opt = new torch.AdamW(model.parameters(), { lr: 1e-3 });
  const iteration = (i: number) => {
    torch.tidy(() => {
      const ids = torch.randint(0, 128, [4, 17]);
      const loss = (i % 2 ? torch.autocast(() => model.loss(ids.narrow(1, 0, 16), ids.narrow(1, 1, 16))) : model.loss(ids.narrow(1, 0, 16), ids.narrow(1, 1, 16)));
      loss.backward();
      torch.clipGradNorm(model.parameters(), 1);
      opt.step();
      opt.zeroGrad();
    });
    generate(model, [[1, 2, 3], [4, 5]], { maxNewTokens: 8, temperature: 1, topK: 20, topP: 0.9 });
  };
  for (let i = 0; i < 60; i++) iteration(i); // warm-up: allocator caches, JIT, lazy libtorch init
  const live = torch.liveTensors();
  const rss0 = process.memoryUsage().rss;
  for (let i = 0; i < 600; i++) iteration(i);
  const growthMb = (process.memoryUsage().rss - rss0) / 1e6;
  assert.equal(torch.liveTensors(), live, "every tensor made in the loop was freed");
  assert.ok(growthMb < 25, `resident memory grew by ${growthMb.toFixed(1)} MB over 600 iterations`);
  opt.dispose();
  model.dispose();
});
