/**
 * Tokenizer benchmark: BPE training time on the catalogue's text and encode/decode throughput,
 * printed as JSON (DESIGN §7).
 *
 *   node dist/src/bench/tokenizer.js [--dataset amazon-beauty|synthetic] [--vocab 8192]
 *
 * The texts are each item's title, brand and category path (what pre-training reads); with the
 * Beauty files absent it falls back to a synthetic catalogue of 12,000 items.
 */
import { rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadDataset } from "../data/index.js";
import { renderChat } from "../lm/chat.js";
import { TextTokenizer } from "../lm/tokenizer.js";

async function catalogueTexts(name: string): Promise<{ dataset: string; texts: string[] }> {
  try {
    const ds = await loadDataset(name === "synthetic" ? { name, items: 12_000, users: 2_000 } : { name });
    const texts = ds.catalogue.items.flatMap((it) => [it.title, ...(it.brand ? [it.brand] : []), it.categories.join(" > ")]);
    return { dataset: ds.catalogue.name, texts };
  } catch (e) {
    if (name === "synthetic") throw e;
    process.stderr.write(`${name} unavailable (${(e as Error).message.split("\n")[0]}); using a synthetic catalogue\n`);
    return catalogueTexts("synthetic");
  }
}

/** Runs `fn` on every text, returning texts per second. */
async function rate(n: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return Math.round(n / ((performance.now() - t0) / 1000));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dataset: { type: "string", default: "amazon-beauty" }, vocab: { type: "string", default: "8192" } } });
  const { dataset, texts } = await catalogueTexts(values.dataset!);
  const vocabSize = Number(values.vocab);
  const bytes = texts.reduce((s, t) => s + Buffer.byteLength(t), 0);

  const t0 = performance.now();
  const trained = TextTokenizer.train(texts, { vocabSize });
  const trainSeconds = (performance.now() - t0) / 1000;
  trained.addSidTokens({ levels: 4, codebookSize: 256 });

  // A tokenizer without cache measures HF itself; the trained one then measures the cache.
  const dir = join(tmpdir(), `gr2-tokenizer-bench-${process.pid}`);
  trained.save(dir);
  const raw = TextTokenizer.load(dir, { cacheSize: 0 });
  rmSync(dir, { recursive: true, force: true });
  const sample = texts.slice(0, 5_000);
  const sequential = await rate(sample.length, async () => {
    for (const t of sample) await raw.encode(t);
  });
  const concurrent = await rate(sample.length, () => Promise.all(sample.map((t) => raw.encode(t))));
  const batch = await rate(texts.length, () => raw.encodeBatch(texts));
  await trained.warm(sample);
  const cached = await rate(sample.length, () => {
    for (const t of sample) trained.encodeCached(t);
  });
  const ids = await raw.encodeBatch(texts);
  const tokens = ids.reduce((s, x) => s + x.length, 0);
  const decodeSync = await rate(sample.length, () => {
    for (const x of ids.slice(0, sample.length)) raw.decodeSync(x);
  });
  const chats = sample.slice(0, 2_000).map((t) => [
    { role: "user" as const, content: `Describe <|sid_begin|><s_a_1><s_b_2><s_c_3><s_d_4><|sid_end|>` },
    { role: "assistant" as const, content: t },
  ]);
  const chat = await rate(chats.length, async () => {
    for (const c of chats) await renderChat(c, trained);
  });

  console.log(
    JSON.stringify(
      {
        machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
        dataset,
        texts: texts.length,
        megabytes: +(bytes / 1e6).toFixed(2),
        vocab_size: trained.vocabSize,
        train_seconds: +trainSeconds.toFixed(2),
        tokens_per_text: +(tokens / texts.length).toFixed(2),
        bytes_per_token: +(bytes / tokens).toFixed(2),
        texts_per_second: { encode_await_each: sequential, encode_concurrent: concurrent, encode_batch: batch, encode_cached_sync: cached, decode_sync: decodeSync, render_chat_await_each: chat },
      },
      null,
      2,
    ),
  );
}

await main();
