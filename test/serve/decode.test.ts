import { test } from "node:test";
import assert from "node:assert/strict";
import { generate } from "../../src/lm/generate.js";
import { permutationConstraint } from "../../src/prompt/constraint.js";
import { decodeJumpForward, decodeJumpForwardAsync, PrefixKV } from "../../src/serve/decode.js";
import { ModelSession } from "../../src/serve/session.js";
import { parseRerank } from "../../src/serve/validation.js";
import { isPermutation, tinyCheckpoint } from "./helpers.js";

test("jump-forward decoding gives generate()'s tokens and log-probabilities with far fewer forwards", async () => {
  const ckpt = await tinyCheckpoint();
  const session = await ModelSession.load({ model: ckpt.dir });
  try {
    const ids = ckpt.itemIds;
    const requests = [
      { query: { history: ids.slice(0, 2) }, documents: ids.slice(10, 16) },
      { query: { history: ids.slice(5, 9), text: "a gift" }, documents: [...ids.slice(20, 23), "plain text document"] },
      { query: "nothing known", documents: ids.slice(30, 33) },
    ];
    const jobs = await Promise.all(requests.map((r) => session.prepareRerank(parseRerank(r, "v2"))));
    for (const rationale of [0, 12]) {
      const pc = await permutationConstraint({ tokenizer: session.tokenizer, format: "json", candidates: jobs.map((j) => j.candidateSids), maxRationaleTokens: rationale });
      const o = { maxNewTokens: pc.maxNewTokens, temperature: 0, constraint: pc.constraint, stopTokens: session.stopTokens, padToken: session.padToken };
      const prompts = jobs.map((j) => j.ids);
      const ref = generate(session.model, prompts, o);
      const jump = decodeJumpForward(session.model, prompts, o);
      const header = await session.tokenizer.encode("<|im_start|>user\n");
      const cut = prompts[0]!.findIndex((_, i) => header.every((t, k) => prompts[0]![i + k] === t)) + header.length;
      const prefix = PrefixKV.compute(session.model, prompts[0]!.slice(0, cut));
      assert.ok(prompts.every((p) => prefix.prefixes(p)), "the system message and user header are shared");
      const withPrefix = await decodeJumpForwardAsync(session.model, prompts, { ...o, yieldEveryMs: 0 }, prefix);
      prefix.dispose();
      const chunked = decodeJumpForward(session.model, prompts, { ...o, prefillChunk: 97 });
      assert.ok(chunked.stats.forwards > jump.stats.forwards + 5, "the prefill went in chunks");
      for (const got of [jump, withPrefix, chunked]) {
        assert.deepEqual(got.tokens, ref.tokens, `rationale ${rationale}: same tokens`);
        assert.deepEqual(got.finish, ref.finish);
        got.logprobs.forEach((row, b) => row.forEach((lp, i) => assert.ok(Math.abs(lp - ref.logprobs[b]![i]!) < 1e-3, `log-prob ${b}/${i}: ${lp} vs ${ref.logprobs[b]![i]}`)));
        assert.equal(got.stats.forced + got.stats.sampled, ref.tokens.reduce((a, t) => a + t.length, 0));
      }
      // One row alone: no padding anywhere, so the decoder runs without a key mask.
      const pc1 = await permutationConstraint({ tokenizer: session.tokenizer, format: "json", candidates: [jobs[1]!.candidateSids], maxRationaleTokens: rationale });
      const o1 = { ...o, maxNewTokens: pc1.maxNewTokens, constraint: pc1.constraint };
      assert.deepEqual(decodeJumpForward(session.model, [prompts[1]!], o1).tokens, generate(session.model, [prompts[1]!], o1).tokens, "a single row, unmasked");
      const longest = Math.max(...ref.tokens.map((t) => t.length));
      assert.ok(jump.stats.forwards < longest / 3, `${jump.stats.forwards} forwards for answers of up to ${longest} tokens`);
      pc.outcome(jump.tokens).forEach((r, b) => {
        assert.ok(r.complete);
        assert.ok(isPermutation(r.ranking, jobs[b]!.candidateSids.length));
      });
    }
  } finally {
    session.dispose();
  }
});
