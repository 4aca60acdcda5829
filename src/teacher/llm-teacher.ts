/**
 * The language-model teacher: sends the teacher prompt to an OpenAI-compatible server
 * (openai-client.ts) and parses each returned choice. One request asks for `batch` choices
 * (`n`); each attempt batch carries its own seed, so rejection sampling draws fresh answers
 * (and the client's cache, keyed by the request, still answers a re-run for free).
 */
import { parseRerankOutput } from "../prompt/parse-output.js";
import { listSeed } from "../prompt/rerank-prompt.js";
import type { ChatClient } from "./openai-client.js";
import type { Teacher, TeacherAttempt, TeacherRequest } from "./teacher.js";

export interface LlmTeacherOptions {
  /** Choices per request (OpenAI `n`; default 1). Servers that ignore `n` return one. */
  batch?: number;
  temperature?: number;
  maxTokens?: number;
  /** Run seed, mixed with user, split, mode and attempt into each request's `seed`. */
  seed?: number;
}

export class LlmTeacher implements Teacher {
  readonly name: string;
  readonly batch: number;
  readonly usesPrompt = true;

  constructor(
    readonly client: ChatClient,
    readonly o: LlmTeacherOptions = {},
  ) {
    this.name = `openai:${client.model}`;
    this.batch = Math.max(1, o.batch ?? 1);
  }

  get concurrency(): number {
    return this.client.concurrency;
  }

  async attempts(req: TeacherRequest): Promise<TeacherAttempt[]> {
    const p = req.teacherPrompt;
    const completion = await this.client.complete(p.messages, {
      n: Math.max(1, Math.min(req.count, this.batch)),
      temperature: this.o.temperature,
      maxTokens: this.o.maxTokens,
      // 31 bits: some servers reject seeds outside a signed 32-bit integer.
      seed: listSeed(this.o.seed ?? 0, req.list.user, req.list.split, req.mode, req.attempt) & 0x7fffffff,
    });
    return completion.choices.map((c) => ({
      raw: c.text,
      // Chat models wrap JSON in code fences even when told not to; that much is tolerated here.
      parsed: parseRerankOutput(c.text, { format: p.format, candidateSids: p.candidateSids, candidateNames: p.candidateNames, allowCodeFence: true }),
    }));
  }
}
