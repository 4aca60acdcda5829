/**
 * The model session: one loaded checkpoint (model, tokenizer, SID map, optional catalogue) and
 * the two kinds of work the server asks of it.
 *
 * - Preparing a request (async, before it is queued): names → items → prompt → token ids.
 *   Every client mistake that needs the model's vocabulary or the SID map (unknown item ids,
 *   unknown SIDs, SIDs of the wrong shape, duplicate candidates, prompts that cannot fit) is
 *   found here and reported as a 400 naming the field.
 * - Running a batch (sync tensor work on the main thread): rerank rows are decoded together
 *   under the permutation constraint of src/prompt/constraint.ts (each row with its own
 *   candidates), chat rows together through generate().
 *
 * Rerank answers: the constraint makes the ranking part a permutation of the row's candidates
 * by construction; the answer is then parsed with the strict parser (src/prompt/parse-output.ts)
 * and, should that ever fail, the constraint's own record of the ranking is used and completed
 * (counted in gr2_rerank_repairs_total), so a response is always a valid permutation.
 *
 * Text-only documents (plain strings that are not catalogue ids, or {"text": ...}) have no SID;
 * each gets a placeholder SID for this request from code tuples the SID map leaves unassigned,
 * so the model can cite and rank it like any item.
 */
import { randomInt } from "node:crypto";
import { loadDataset, type LoadOptions } from "../data/load.js";
import { leaveOneOut } from "../data/split.js";
import type { Item } from "../data/types.js";
import { CHATML, LLAMA3, renderChat, stopTokenIds, type ChatMessage, type ChatTemplate } from "../lm/chat.js";
import { generate, type GenerateResult, type LogitConstraint } from "../lm/generate.js";
import { loadHFModel, loadHFTokenizer } from "../lm/hf.js";
import type { DecoderLM } from "../lm/model.js";
import type { TextTokenizer } from "../lm/tokenizer.js";
import { mineComplements, type ComplementTable } from "../prompt/complements.js";
import { evidenceSource, localSource } from "../rank/evidence/features.js";
import type { CompressorWeights } from "../prompt/compress.js";
import { answerConstraint, padTokenId, prepareEpisode, readAnswer, type RerankEpisode } from "../prompt/episode.js";
import { candidateNames as namesOf, type OutputFormat } from "../prompt/output-format.js";
import { domainOf, PromptBudgetError, type EvidenceContext, type PromptContext, type PromptLayout, type RerankPrompt } from "../prompt/rerank-prompt.js";
import { isDirectPolicy } from "../prompt/prompt-file.js";
import { formatSid, readSidMap, type SidMap } from "../sid/sidmap.js";
import { bf16Support, manualSeed, mixedPrecision, tensor, type Tensor } from "../torch/index.js";
import { decodeJumpForwardAsync, PrefixKV, type DecodeStats } from "./decode.js";
import { ApiError, badRequest } from "./errors.js";
import { resolveModel, type ResolvedModel } from "./load.js";
import { DEFAULT_LIMITS, type ChatRequest, type ItemRef, type Mode, type RerankRequest, type ValidationLimits } from "./validation.js";

export interface SessionOptions {
  /** A run folder or an HF model folder. */
  model: string;
  /** What `model` resolved to, when the caller resolved it already (a run's direct policy). */
  resolved?: ResolvedModel;
  /** SID map file or folder (default: found next to the model). */
  sids?: string;
  /** The name clients use in "model" (default: the folder's name). */
  name?: string;
  device?: string;
  /** The answer format the model was trained on (default json, the paper's). */
  format?: OutputFormat;
  /** Rerank mode when a request does not say (default direct). */
  mode?: Mode;
  /** Rationale tokens in reasoning mode when a request does not say (default 256). */
  maxReasoningTokens?: number;
  /** History items shown in the rerank prompt (default 20, as in training). */
  maxHistory?: number;
  /** Chat completion length when a request does not say (default 256). */
  maxTokens?: number;
  /** "jump" (default): jump-forward decoding for rerank; "generate": src/lm generate(). */
  decoder?: "jump" | "generate";
  precision?: "fp32" | "bf16";
  /** A catalogue whose item text (titles, brands, categories, prices) the prompts show. */
  dataset?: LoadOptions;
  /** Store domain for the prompt's role line (default from the catalogue, else "retail"). */
  domain?: string;
  limits?: Partial<ValidationLimits>;
}

/** A rerank request made ready for the model. */
export interface RerankJob {
  kind: "rerank";
  ids: number[];
  /** Candidates' SIDs in document order. */
  candidateSids: string[];
  /** How the answer names them (SIDs, or letters for the labels format), document order. */
  candidateNames: string[];
  mode: Mode;
  /** The prompt layout of the session that prepared the job: jobs of different models never share a batch. */
  layout: PromptLayout;
  maxRationaleTokens: number;
  temperature: number;
  topP: number;
  seed?: number;
  /** Tokens the answer can take at most (the constraint's bound for this row). */
  maxNewTokens: number;
  historyShown: number;
}

export interface RerankOutcome {
  /** ranking[r] = document index at rank r: a permutation of 0..K-1. */
  ranking: number[];
  /** log p of choosing each ranked candidate at its place (aligned with `ranking`). */
  choiceLogprobs: number[];
  reasoning: string;
  text: string;
  promptTokens: number;
  completionTokens: number;
  finish: "stop" | "length";
  repaired: string | null;
  stats: DecodeStats;
}

export interface ChatJob {
  kind: "chat";
  ids: number[];
  n: number;
  maxTokens: number;
  temperature: number;
  topP: number;
  stop: string[];
  seed?: number;
  logprobs: boolean;
}

export interface ChatChoice {
  text: string;
  finish: "stop" | "length";
  tokens: number[];
  /** Per generated token kept in `text`: its text and log-probability. */
  logprobs: { token: string; logprob: number }[];
}

export interface ChatOutcome {
  choices: ChatChoice[];
  promptTokens: number;
  completionTokens: number;
}

export type Job = RerankJob | ChatJob;

interface Resolved {
  codes: number[];
  item: Item;
}

/** The chat template the tokenizer's special tokens call for. */
export function pickTemplate(tokenizer: TextTokenizer): ChatTemplate | null {
  for (const t of [CHATML, LLAMA3]) if (t.specialTokens.every((s) => tokenizer.tokenToId(s) !== undefined)) return t;
  return null;
}

export class ModelSession {
  readonly name: string;
  readonly template: ChatTemplate | null;
  readonly limits: ValidationLimits;
  readonly format: OutputFormat;
  readonly defaultMode: Mode;
  readonly defaultReasoningTokens: number;
  readonly maxHistory: number;
  /** How rerank prompts show items (`sids` for a direct policy), as the model was trained. */
  readonly layout: PromptLayout;
  /** The model answers without reasoning (a direct policy, in whatever layout it was trained). */
  readonly direct: boolean;
  /** The prompt budget the model was trained with (gr2_prompt.json), or undefined: prompts are cut to it as in training. */
  readonly maxPromptTokens: number | undefined;
  readonly defaultMaxTokens: number;
  readonly decoder: "jump" | "generate";
  /** What the model computes in: a requested "bf16" is "fp32" on a device without hardware bf16 (`bf16Support`). */
  readonly precision: "fp32" | "bf16";
  readonly stopTokens: number[];
  /** How often a long rerank batch gives the event loop a turn (ms). */
  yieldEveryMs = 20;
  private readonly idIndex = new Map<string, number>();
  private readonly catalogue = new Map<string, Item>();
  private readonly freeTuples: number[][] = [];
  private readonly specialPattern: RegExp | null;
  private prefix: PrefixKV | null = null;
  private prefixTried = false;
  /** Token ids of the user turn's header, which ends the prefix every rerank prompt shares. */
  private userHeaderIds: number[] = [];
  private disposed = false;
  /**
   * The collaborative evidence the model's prompts showed (gr2_prompt.json), computed from the
   * served catalogue's training interactions; undefined when it was trained without.
   */
  private evidence: EvidenceContext | undefined;
  /** The context compressor the model's prompts were built with (gr2_prompt.json), or undefined. */
  private compressor: CompressorWeights | undefined;
  readonly createdAt = Math.floor(Date.now() / 1000);

  private constructor(
    readonly resolved: ResolvedModel,
    readonly model: DecoderLM,
    readonly tokenizer: TextTokenizer,
    readonly sidMap: SidMap | null,
    readonly complements: ComplementTable | undefined,
    readonly domain: string,
    items: readonly Item[] | null,
    o: SessionOptions,
  ) {
    this.name = o.name ?? resolved.name;
    this.template = pickTemplate(tokenizer);
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.format = o.format ?? resolved.prompt?.format ?? "json";
    this.defaultMode = o.mode ?? "direct";
    this.defaultReasoningTokens = Math.min(o.maxReasoningTokens ?? 256, this.limits.maxReasoningTokens);
    this.maxHistory = o.maxHistory ?? resolved.prompt?.maxHistory ?? 20;
    this.layout = resolved.prompt?.layout ?? "full";
    this.direct = isDirectPolicy(resolved.prompt);
    this.maxPromptTokens = resolved.prompt?.maxPromptTokens;
    this.defaultMaxTokens = o.maxTokens ?? 256;
    this.decoder = o.decoder ?? "jump";
    // /v1/models reports the precision the model runs at, not the one asked for.
    this.precision = o.precision === "bf16" && !bf16Support(model.device).hardware ? "fp32" : (o.precision ?? "fp32");
    this.stopTokens = this.template ? stopTokenIds(tokenizer, this.template) : [];
    if (sidMap) sidMap.ids.forEach((id, i) => this.idIndex.set(id, i));
    if (items) for (const it of items) this.catalogue.set(it.id, it);
    if (this.template) {
      const esc = this.template.specialTokens.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
      this.specialPattern = new RegExp(esc.join("|"), "g");
    } else this.specialPattern = null;
    const sid = tokenizer.sid;
    if (sid) this.freeTuples = findFreeTuples(sid.levels, sid.codebookSize, this.limits.maxCandidates, sidMap);
  }

  static async load(o: SessionOptions): Promise<ModelSession> {
    const resolved = o.resolved ?? resolveModel(o.model, o.sids);
    const tokenizer = loadHFTokenizer(resolved.modelDir);
    const sidMap = resolved.sidMapPath ? await readSidMap(resolved.sidMapPath) : null;
    if (sidMap) {
      const sid = tokenizer.sid;
      if (!sid) throw new Error(`${resolved.modelDir}: the tokenizer has no SID tokens, but a SID map was given (${resolved.sidMapPath}); serve a mid-trained checkpoint`);
      if (sid.levels !== sidMap.levels || sid.codebookSize < sidMap.codebookSize) {
        throw new Error(`${resolved.sidMapPath}: SIDs have ${sidMap.levels} levels × ${sidMap.codebookSize} codes, the tokenizer ${sid.levels} × ${sid.codebookSize}`);
      }
    }
    let items: Item[] | null = null;
    let complements: ComplementTable | undefined;
    let evidence: EvidenceContext | undefined;
    let domain = o.domain ?? "retail";
    const evidenceSet = resolved.prompt?.evidence ?? "none";
    if (evidenceSet !== "none" && !o.dataset) {
      throw new Error(`${resolved.modelDir}: this model was trained with "${evidenceSet}" evidence on its candidate lines (gr2_prompt.json), computed from a catalogue's training interactions; serve it with --dataset naming that catalogue`);
    }
    const compressor = resolved.prompt?.compressor;
    if (compressor && !o.dataset) {
      throw new Error(`${resolved.modelDir}: this model was trained on histories compressed by the context compressor (gr2_prompt.json), which reads a catalogue's training interactions; serve it with --dataset naming that catalogue`);
    }
    if (o.dataset) {
      const ds = await loadDataset(o.dataset);
      items = ds.catalogue.items;
      // Complement hints and evidence as the training prompts had them: from the train split only.
      const train = leaveOneOut(ds.interactions).train;
      complements = mineComplements(train, items);
      // The compressor reads the same statistics, also when no evidence is shown (set "none").
      if (evidenceSet !== "none" || compressor) evidence = { source: evidenceSource(items, train), set: evidenceSet, ...(resolved.prompt?.scorer ? { scorer: resolved.prompt.scorer } : {}) };
      domain = o.domain ?? domainOf(ds.catalogue.name);
    }
    const model = loadHFModel(resolved.modelDir, o.device ?? "cpu");
    if (tokenizer.vocabSize > model.config.vocabSize) {
      model.dispose();
      throw new Error(`${resolved.modelDir}: the tokenizer has ${tokenizer.vocabSize} tokens but the model only ${model.config.vocabSize}`);
    }
    model.prepareInference();
    const session = new ModelSession(resolved, model, tokenizer, sidMap, complements, domain, items, o);
    session.evidence = evidence;
    session.compressor = compressor;
    if (session.template) session.userHeaderIds = await tokenizer.encode(session.template.roles.user.prefix);
    return session;
  }

  get maxPositions(): number {
    return this.model.config.maxPositions;
  }

  get canRerank(): boolean {
    return this.tokenizer.sid !== undefined && this.template !== null;
  }

  get hasSidMap(): boolean {
    return this.sidMap !== null;
  }

  /** Removes the chat template's control tokens from client text (no one may end a turn from inside a document). */
  private clean(text: string): string {
    return this.specialPattern ? text.replace(this.specialPattern, "") : text;
  }

  private resolveSidCodes(ref: Extract<ItemRef, { kind: "sid" }>): number[] {
    const sid = this.tokenizer.sid!;
    const codes = ref.codes;
    if (codes.length !== sid.levels) throw badRequest(ref.param, `${ref.param}: the SID has ${codes.length} levels; this model's SIDs have ${sid.levels}`, "invalid_sid");
    const bad = codes.findIndex((c) => c >= sid.codebookSize);
    if (bad >= 0) throw badRequest(ref.param, `${ref.param}: code ${codes[bad]} at level ${bad} is outside this model's codebook (size ${sid.codebookSize})`, "invalid_sid");
    return codes;
  }

  private itemFor(id: string | undefined, text: string | undefined, fallbackId: string): Item {
    const known = id !== undefined ? this.catalogue.get(id) : undefined;
    const base: Item = known ? { ...known, categories: [...known.categories] } : { index: 0, id: id ?? fallbackId, title: "", categories: [] };
    if (text !== undefined) base.title = this.clean(text);
    return base;
  }

  /** A history entry or document → its SID codes and the item shown in the prompt. */
  private resolve(ref: ItemRef, j: number, textSids: () => number[]): Resolved {
    const map = this.sidMap;
    const byId = (id: string, param: string, text?: string): Resolved => {
      if (!map) throw badRequest(param, `${param}: this server has no SID map, so items cannot be named by id; name them by SID`, "no_sid_map");
      const i = this.idIndex.get(id);
      if (i === undefined) throw badRequest(param, `${param}: unknown item id ${JSON.stringify(id.length > 60 ? id.slice(0, 60) + "…" : id)}`, "unknown_item");
      return { codes: Array.from(map.codes.codes.subarray(i * map.levels, (i + 1) * map.levels)), item: this.itemFor(id, text, id) };
    };
    switch (ref.kind) {
      case "id":
        return byId(ref.id, ref.param, ref.text);
      case "sid": {
        const codes = this.resolveSidCodes(ref);
        let id = ref.id;
        if (map) {
          const i = map.itemOfCodes(codes);
          if (i === undefined) throw badRequest(ref.param, `${ref.param}: unknown SID ${ref.sid.trim()} (no item has it)`, "unknown_sid");
          if (id !== undefined && map.ids[i] !== id) throw badRequest(ref.param, `${ref.param}: SID ${ref.sid.trim()} belongs to item ${JSON.stringify(map.ids[i])}, not ${JSON.stringify(id)}`, "sid_mismatch");
          id = map.ids[i];
        }
        return { codes, item: this.itemFor(id, ref.text, id ?? "unknown") };
      }
      case "auto":
        if (map && this.idIndex.has(ref.value)) return byId(ref.value, ref.param);
        return { codes: textSids(), item: this.itemFor(undefined, ref.value, `doc-${j}`) };
      case "text":
        return { codes: textSids(), item: this.itemFor(undefined, ref.text, `doc-${j}`) };
    }
  }

  /**
   * Whether every history entry and document names a catalogue item (by id or SID). A prompt
   * in the `sids` layout shows nothing else, so a request with text-only items belongs to a
   * model that reads text.
   */
  namesCatalogueItems(req: RerankRequest): boolean {
    const known = (r: ItemRef) => this.textOnly(r) === null;
    return req.query.history.every(known) && req.documents.every(known);
  }

  /** The text of an item given by text alone (a placeholder SID stands for it), or null when it names a catalogue item. */
  private textOnly(ref: ItemRef): string | null {
    if (ref.kind === "text") return ref.text;
    if (ref.kind === "auto" && !(this.sidMap && this.idIndex.has(ref.value))) return ref.value;
    return null;
  }

  /** Names → items → prompt ids; every client mistake is a 400 naming the field. */
  async prepareRerank(req: RerankRequest): Promise<RerankJob> {
    if (!this.canRerank) {
      throw new ApiError(501, "not_implemented", `this model cannot rerank: ${this.tokenizer.sid ? "its tokenizer has no chat template tokens" : "its tokenizer has no SID tokens (serve a mid-trained checkpoint)"}`);
    }
    const mode = req.mode ?? this.defaultMode;
    if (mode === "reasoning" && this.direct) throw badRequest("mode", `this model is a direct policy (trained without reasoning); send "mode": "direct"`, "invalid_mode");
    const maxRationaleTokens = mode === "direct" ? 0 : (req.maxReasoningTokens ?? this.defaultReasoningTokens);
    let freeAt = 0;
    const usedSids = new Set<string>();
    const textSids = (): number[] => {
      for (; freeAt < this.freeTuples.length; freeAt++) {
        const t = this.freeTuples[freeAt]!;
        if (!usedSids.has(t.join(","))) {
          freeAt++;
          return t;
        }
      }
      throw badRequest("documents", `too many text-only documents for the free SIDs of this model`, "no_free_sid");
    };
    // Every history entry is checked (an unknown id is an error wherever it is); the prompt shows the most recent ones.
    const allHistory = req.query.history.map((h, j) => this.resolve(h, j, textSids));
    const history = allHistory.slice(Math.max(0, allHistory.length - this.maxHistory));
    for (const h of history) usedSids.add(h.codes.join(","));
    // Documents naming real items first (so placeholder SIDs can avoid them), then text-only ones.
    const docs: (Resolved | null)[] = req.documents.map(() => null);
    req.documents.forEach((d, j) => {
      if (this.textOnly(d) !== null) return;
      docs[j] = this.resolve(d, j, textSids);
      usedSids.add(docs[j]!.codes.join(","));
    });
    req.documents.forEach((d, j) => {
      if (!docs[j]) docs[j] = this.resolve(d, j, textSids);
    });
    const seen = new Map<string, number>();
    docs.forEach((d, j) => {
      const key = d!.codes.join(",");
      const prev = seen.get(key);
      if (prev !== undefined) throw badRequest(`documents[${j}]`, `documents[${j}] is the same item as documents[${prev}] (${formatSid(d!.codes)}); candidates must be distinct`, "duplicate_document");
      seen.set(key, j);
    });
    // Duplicate text-only documents would get distinct placeholder SIDs: compare their text too.
    const texts = new Map<string, number>();
    req.documents.forEach((d, j) => {
      const t = this.textOnly(d);
      if (t === null) return;
      const prev = texts.get(t);
      if (prev !== undefined) throw badRequest(`documents[${j}]`, `documents[${j}] repeats documents[${prev}]; candidates must be distinct`, "duplicate_document");
      texts.set(t, j);
    });

    const items: Item[] = [...history.map((h) => h.item), ...docs.map((d) => d!.item)].map((it, i) => ({ ...it, index: i }));
    const sids = [...history.map((h) => formatSid(h.codes)), ...docs.map((d) => formatSid(d!.codes))];
    // Evidence needs each item's catalogue index; an item given by text alone has none (and no evidence).
    const refs = [...req.query.history.slice(allHistory.length - history.length), ...req.documents];
    const catalogueIndex = items.map((it, i) => (this.textOnly(refs[i]!) === null ? (this.catalogue.get(it.id)?.index ?? -1) : -1));
    const evidence = this.evidence ? { ...this.evidence, source: localSource(this.evidence.source, items, catalogueIndex) } : undefined;
    const ctx: PromptContext = { items, sidOf: (i) => sids[i]!, complements: this.complements, domain: this.domain, ...(evidence ? { evidence } : {}), ...(this.compressor ? { compressor: this.compressor } : {}) };
    const list = { history: history.map((_, i) => i), candidates: docs.map((_, j) => history.length + j) };
    const candidateSids = sids.slice(history.length);
    // The session's prompts are never shuffled: the documents are shown in the order sent.
    let candidateNames: string[];
    try {
      candidateNames = namesOf(this.format, candidateSids, candidateSids.map((_, j) => j));
    } catch (e) {
      // Only the labels format has a limit: more documents than letters.
      if (e instanceof RangeError) throw badRequest("documents", `this model names documents by letter: ${e.message}; send fewer documents`);
      throw e;
    }

    const pc = await answerConstraint(this.tokenizer, this.format, [{ candidateNames }], maxRationaleTokens, this.stopTokens[0]);
    const room = this.maxPositions - pc.maxNewTokens;
    const queryText = req.query.text ? this.clean(req.query.text) : null;
    const build = (budget?: number, minHistory = 0): Promise<RerankEpisode> =>
      prepareEpisode(ctx, list, {
        tokenizer: this.tokenizer,
        format: this.format,
        layout: this.layout,
        maxHistory: this.maxHistory,
        template: this.template!,
        ...(budget !== undefined ? { maxPromptTokens: budget, budget: { minHistory } } : {}),
        ...(queryText ? { edit: (prompt: RerankPrompt) => insertQueryText(prompt, queryText) } : {}),
      });
    // Cut as in training: a model that learned on a 1,280-token budget saw two or three history
    // items of the full prompt, not eight. A request that cannot fit it is built unbudgeted and
    // then held to the model's positions below.
    const asTrained = async (): Promise<RerankEpisode> => {
      if (this.maxPromptTokens === undefined) return build();
      try {
        return await build(this.maxPromptTokens, 1);
      } catch (e) {
        if (e instanceof PromptBudgetError) return build();
        throw e;
      }
    };
    let built = await asTrained();
    if (built.ids.length > room) {
      if (room <= 0) throw badRequest("documents", `${req.documents.length} candidates need up to ${pc.maxNewTokens} answer tokens, more than the model's ${this.maxPositions} positions; send fewer documents${mode === "reasoning" ? " or a smaller max_reasoning_tokens" : ""}`, "context_length_exceeded");
      try {
        // The query text is added after the budget is measured: leave room for it.
        const queryTokens = req.query.text ? (await this.tokenizer.encode(req.query.text)).length + 16 : 0;
        built = await build(room - queryTokens);
      } catch (e) {
        if (!(e instanceof PromptBudgetError)) throw e;
      }
      if (built.ids.length > room) {
        throw badRequest(
          "documents",
          `the prompt needs ${built.ids.length} tokens even with the history and titles cut, but only ${room} of the model's ${this.maxPositions} positions are left after the answer; send fewer or shorter documents${mode === "reasoning" ? " or a smaller max_reasoning_tokens" : ""}`,
          "context_length_exceeded",
        );
      }
    }
    return {
      kind: "rerank",
      ids: built.ids,
      candidateSids,
      candidateNames,
      mode,
      layout: this.layout,
      maxRationaleTokens,
      temperature: req.temperature,
      topP: req.topP,
      seed: req.seed,
      maxNewTokens: pc.maxNewTokens,
      historyShown: built.prompt.history.length,
    };
  }

  async prepareChat(req: ChatRequest): Promise<ChatJob> {
    if (!this.template) throw new ApiError(501, "not_implemented", "this model's tokenizer has no known chat template (ChatML or Llama 3)");
    const messages: ChatMessage[] = req.messages.map((m) => ({ role: m.role, content: m.content }));
    const r = await renderChat(messages, this.tokenizer, { template: this.template, addGenerationPrompt: true });
    const room = this.maxPositions - r.ids.length;
    if (room < 1) throw badRequest("messages", `the conversation is ${r.ids.length} tokens, which leaves no room to answer in the model's ${this.maxPositions} positions`, "context_length_exceeded");
    if (req.maxTokens !== undefined && req.maxTokens > room) {
      throw badRequest("max_tokens", `the conversation is ${r.ids.length} tokens; with max_tokens ${req.maxTokens} it exceeds the model's ${this.maxPositions} positions (at most ${room} new tokens)`, "context_length_exceeded");
    }
    return {
      kind: "chat",
      ids: r.ids,
      n: req.n,
      maxTokens: req.maxTokens ?? Math.min(this.defaultMaxTokens, room),
      temperature: req.temperature,
      topP: req.topP,
      stop: req.stop,
      seed: req.seed,
      logprobs: req.logprobs,
    };
  }

  /** Batch key: jobs with equal keys can share one decode call. Seeded jobs run alone. */
  batchKey(job: Job): string {
    const seed = job.seed !== undefined ? `:seed${job.seed}:${randomInt(2 ** 47)}` : "";
    if (job.kind === "rerank") return `rerank:${job.mode}:${job.layout}:${job.maxRationaleTokens}:${job.temperature}:${job.topP}${seed}`;
    return `chat:${job.temperature}:${job.topP}${seed}`;
  }

  private withPrecision<T>(fn: () => T): T {
    return this.precision === "bf16" ? mixedPrecision(fn, { device: this.model.device }) : fn();
  }

  private seedFor(jobs: readonly Job[]): void {
    const seed = jobs[0]?.seed;
    // A seeded job runs alone (its batch key is unique); afterwards the generator is re-seeded at random.
    manualSeed(seed !== undefined ? seed : randomInt(2 ** 31));
  }

  /** The shared prompt prefix (system message and user header) of rerank prompts, computed once. */
  private rerankPrefix(job: RerankJob): PrefixKV | undefined {
    if (this.prefix) return this.prefix;
    if (this.prefixTried) return undefined;
    this.prefixTried = true;
    const marker = this.userHeaderIds;
    if (marker.length === 0) return undefined;
    for (let i = 0; i + marker.length <= job.ids.length; i++) {
      if (marker.every((t, k) => job.ids[i + k] === t)) {
        const end = i + marker.length;
        if (end < 8 || end >= job.ids.length) return undefined;
        this.prefix = PrefixKV.compute(this.model, job.ids.slice(0, end));
        return this.prefix;
      }
    }
    return undefined;
  }

  runRerankBatch(jobs: RerankJob[]): Promise<RerankOutcome[]> {
    return this.rerankBatch(jobs);
  }

  private async rerankBatch(jobs: RerankJob[]): Promise<RerankOutcome[]> {
    const first = jobs[0]!;
    const pc = await answerConstraint(this.tokenizer, this.format, jobs, first.maxRationaleTokens, this.stopTokens[0]);
    const opts = {
      maxNewTokens: pc.maxNewTokens,
      temperature: first.temperature,
      topP: first.topP < 1 ? first.topP : undefined,
      stopTokens: this.stopTokens,
      constraint: pc.constraint,
      padToken: this.padToken,
    };
    const prompts = jobs.map((j) => j.ids);
    this.seedFor(jobs);
    const stats: DecodeStats = { forwards: 0, forced: 0, sampled: 0 };
    let result: GenerateResult;
    if (this.decoder === "jump") {
      const prefix = this.rerankPrefix(first);
      const r = await decodeJumpForwardAsync(this.model, prompts, { ...opts, bf16: this.precision === "bf16", yieldEveryMs: this.yieldEveryMs }, prefix);
      Object.assign(stats, r.stats);
      result = r;
    } else {
      result = this.withPrecision(() => generate(this.model, prompts, opts));
      stats.forwards = Math.max(...result.tokens.map((t) => t.length));
      stats.sampled = result.tokens.reduce((a, t) => a + t.length, 0);
    }
    const outcomes = pc.outcome(result.tokens);
    return jobs.map((job, b) => {
      const tokens = result.tokens[b]!;
      const { text, parsed } = readAnswer(this.tokenizer, { format: this.format, candidateSids: job.candidateSids, candidateNames: job.candidateNames }, tokens, this.stopTokens);
      const K = job.candidateSids.length;
      let ranking: number[];
      let reasoning: string;
      let repaired: string | null = null;
      const recorded = outcomes[b]!.ranking;
      if (parsed.ok && sameOrder(parsed.ranking, recorded.length === K ? recorded : parsed.ranking)) {
        ranking = parsed.ranking;
        reasoning = parsed.explanation;
      } else {
        // Cannot happen while the constraint holds; kept so that a response is always a permutation.
        repaired = parsed.ok ? "parse_disagrees" : parsed.reason;
        const seen = new Set(recorded);
        ranking = [...recorded, ...Array.from({ length: K }, (_, i) => i).filter((i) => !seen.has(i))];
        reasoning = parsed.ok ? parsed.explanation : "";
      }
      // Each choice's log-probability: the sum over its name's tokens (the spans the constraint walked).
      const spans = outcomes[b]!.spans;
      const logprobs = result.logprobs[b]!;
      const choiceLogprobs = ranking.map((_, r) => {
        const span = spans.length === K ? spans[r]! : null;
        return span ? logprobs.slice(span[0], span[1]).reduce((a, x) => a + x, 0) : NaN;
      });
      return {
        ranking,
        choiceLogprobs,
        reasoning,
        text,
        promptTokens: job.ids.length,
        completionTokens: tokens.length,
        finish: result.finish[b]!,
        repaired,
        stats,
      };
    });
  }

  get padToken(): number {
    return padTokenId(this.tokenizer);
  }

  runChatBatch(jobs: ChatJob[]): ChatOutcome[] {
    const rows: { job: number; ids: number[]; maxTokens: number; stop: string[] }[] = [];
    jobs.forEach((j, ji) => {
      for (let c = 0; c < j.n; c++) rows.push({ job: ji, ids: j.ids, maxTokens: j.maxTokens, stop: j.stop });
    });
    const maxNewTokens = Math.max(...rows.map((r) => r.maxTokens));
    const eos = this.stopTokens[0]!;
    const first = jobs[0]!;
    this.seedFor(jobs);
    const constraint = chatLimits(rows, eos, this.tokenizer);
    const result = this.withPrecision(() =>
      generate(
        this.model,
        rows.map((r) => r.ids),
        { maxNewTokens, temperature: first.temperature, topP: first.topP < 1 ? first.topP : undefined, stopTokens: this.stopTokens, constraint, padToken: this.padToken },
      ),
    );
    const out: ChatOutcome[] = jobs.map((j) => ({ choices: [], promptTokens: j.ids.length, completionTokens: 0 }));
    rows.forEach((row, b) => {
      let tokens = result.tokens[b]!;
      let lps = result.logprobs[b]!;
      let finish: "stop" | "length" = result.finish[b]!;
      const stopAt = tokens.findIndex((t) => this.stopTokens.includes(t));
      if (stopAt >= 0) {
        // A stop token right at the row's own limit was forced by it: that is a length finish.
        if (stopAt >= row.maxTokens) finish = "length";
        tokens = tokens.slice(0, stopAt);
        lps = lps.slice(0, stopAt);
      }
      if (tokens.length > row.maxTokens) {
        tokens = tokens.slice(0, row.maxTokens);
        lps = lps.slice(0, row.maxTokens);
        finish = "length";
      }
      let text = this.tokenizer.decodeSync(tokens, { skipSpecial: true });
      // Stop sequences: cut the text at the first one (the constraint ended the row right after it).
      let cut = -1;
      for (const s of row.stop) {
        const at = text.indexOf(s);
        if (at >= 0 && (cut < 0 || at < cut)) cut = at;
      }
      let keep = tokens.length;
      if (cut >= 0) {
        text = text.slice(0, cut);
        finish = "stop";
        // Keep the tokens whose text starts before the cut.
        let len = 0;
        keep = 0;
        for (const t of tokens) {
          if (len >= cut) break;
          len += this.tokenizer.decodeSync([t], { skipSpecial: true }).length;
          keep++;
        }
      }
      const choice: ChatChoice = {
        text,
        finish,
        tokens: tokens.slice(0, keep),
        logprobs: jobs[row.job]!.logprobs ? tokens.slice(0, keep).map((t, i) => ({ token: this.tokenizer.decodeSync([t]), logprob: lps[i]! })) : [],
      };
      out[row.job]!.choices.push(choice);
      out[row.job]!.completionTokens += choice.tokens.length;
    });
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.prefix?.dispose();
    this.model.dispose();
  }
}

function sameOrder(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Puts the request's free text into the user message, after the history and before the candidates. */
function insertQueryText(prompt: RerankPrompt, text: string): void {
  const user = prompt.messages.find((m) => m.role === "user");
  if (!user) return;
  const line = `The customer's request: ${text.replace(/\s+/g, " ").trim()}`;
  const at = user.content.indexOf("\n\nCandidates (");
  user.content = at >= 0 ? `${user.content.slice(0, at)}\n\n${line}${user.content.slice(at)}` : `${line}\n\n${user.content}`;
}

/**
 * Code tuples no item has, for text-only documents: counted down from the last code of every
 * level, so they sit far from the low codes RQ-KMeans fills first.
 */
function findFreeTuples(levels: number, codebook: number, want: number, map: SidMap | null): number[][] {
  const out: number[][] = [];
  const codes = new Array<number>(levels).fill(codebook - 1);
  const total = Math.pow(codebook, levels);
  for (let n = 0; n < Math.min(total, want * 50 + 1000) && out.length < want; n++) {
    if (!map || map.itemOfCodes(codes) === undefined) out.push([...codes]);
    // Decrement like an odometer, last level fastest.
    for (let l = levels - 1; l >= 0; l--) {
      if (codes[l]! > 0) {
        codes[l]!--;
        break;
      }
      codes[l] = codebook - 1;
    }
  }
  return out;
}

/**
 * Per-row limits for a chat batch, as a value-independent constraint: a row that reached its own
 * max_tokens, or whose text now contains one of its stop sequences, may only emit the end token.
 */
function chatLimits(rows: { maxTokens: number; stop: string[] }[], eos: number, tokenizer: TextTokenizer): LogitConstraint | undefined {
  const anyStop = rows.some((r) => r.stop.length > 0);
  const uneven = rows.some((r) => r.maxTokens !== rows[0]!.maxTokens);
  if (!anyStop && !uneven) return undefined;
  const window = Math.max(0, ...rows.flatMap((r) => r.stop.map((s) => s.length))) + 8;
  return (_step, generated, logits): Tensor | null => {
    const B = generated.length;
    const V = logits.size(1);
    const forced = generated.map((toks, b) => {
      const r = rows[b]!;
      if (toks.length >= r.maxTokens) return true;
      if (r.stop.length === 0 || toks.length === 0) return false;
      const tail = tokenizer.decodeSync(toks.slice(Math.max(0, toks.length - window)), { skipSpecial: true });
      return r.stop.some((s) => tail.includes(s));
    });
    if (!forced.some(Boolean)) return null;
    const mask = new Uint8Array(B * V);
    forced.forEach((f, b) => {
      if (f) mask[b * V + eos] = 1;
      else mask.fill(1, b * V, (b + 1) * V);
    });
    return tensor(mask, [B, V], { dtype: "bool", device: logits.device });
  };
}
