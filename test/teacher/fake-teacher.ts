/**
 * A real OpenAI-compatible HTTP server on 127.0.0.1 playing a teacher LLM: it reads the
 * candidates' SIDs from the re-ranking prompt and answers with a permutation drawn from the
 * request's seed. When the prompt reveals the target it explains it (but ranks it second, so
 * the trace generator's "target first" rule is exercised). Every `badEvery`-th answer is not
 * JSON, and answers come in code fences, as chat models' often do.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after } from "node:test";
import { Rng } from "../../src/data/rng.js";

export interface FakeTeacher {
  url: string;
  requests: { seed?: number; n: number; prompt: string }[];
}

const SID = "<\\|sid_begin\\|>(?:<s_[a-z]_\\d+>)+<\\|sid_end\\|>";

export async function startFakeTeacher(o: { badEvery?: number } = {}): Promise<FakeTeacher> {
  const state: FakeTeacher = { url: "", requests: [] };
  let answers = 0;
  const server: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const body = JSON.parse(raw) as { messages: { role: string; content: string }[]; n?: number; seed?: number; model: string };
      const prompt = body.messages.map((m) => m.content).join("\n");
      const n = body.n ?? 1;
      state.requests.push({ seed: body.seed, n, prompt });
      const sids = [...prompt.matchAll(new RegExp(`^- (${SID})`, "gm"))].map((m) => m[1]!);
      const revealed = new RegExp(`actually bought (${SID})`).exec(prompt)?.[1];
      const choices = Array.from({ length: n }, (_, i) => {
        answers++;
        let content: string;
        if (o.badEvery && answers % o.badEvery === 0) content = "I would recommend the first one.";
        else {
          const order = new Rng((body.seed ?? 0) * 31 + i).shuffle(sids);
          if (revealed) {
            const rest = order.filter((s) => s !== revealed);
            order.splice(0, order.length, rest[0]!, revealed, ...rest.slice(1));
          }
          const explanation = revealed ? `The history points to ${revealed}.` : `Pattern seen in the history; ${order[0]} fits best.`;
          content = "```json\n" + JSON.stringify({ explanation, recommendations: order }) + "\n```";
        }
        return { index: i, message: { role: "assistant", content }, finish_reason: "stop" };
      });
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ model: body.model, choices, usage: { prompt_tokens: 100, completion_tokens: 50 } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return state;
}
