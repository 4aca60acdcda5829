/**
 * Request validation: JSON bodies → typed requests, or an ApiError (400) whose `param` names
 * the offending field (`documents[3].sid`, `messages[0].content`, `top_n`). Everything a client
 * can get wrong is checked here or in the model session (which knows the SID map); nothing a
 * client sends reaches the model unchecked.
 *
 * Unknown top-level fields are ignored (clients send provider-specific extras), but every known
 * field must have its documented type.
 */
import { parseSid, SID_BEGIN } from "../sid/sidmap.js";
import type { Role } from "../lm/chat.js";
import { badRequest } from "./errors.js";

export interface ValidationLimits {
  /** Most documents per rerank request. */
  maxCandidates: number;
  /** Most history entries accepted (the prompt shows the most recent few). */
  maxHistoryEntries: number;
  /** Longest text field, in characters. */
  maxTextChars: number;
  /** Largest `max_reasoning_tokens` / `max_tokens` a request may ask for. */
  maxReasoningTokens: number;
  maxTokens: number;
  /** Most chat choices (`n`). */
  maxChoices: number;
  /** Most chat messages. */
  maxMessages: number;
}

export const DEFAULT_LIMITS: ValidationLimits = {
  maxCandidates: 100,
  maxHistoryEntries: 1000,
  maxTextChars: 20_000,
  maxReasoningTokens: 1024,
  maxTokens: 4096,
  maxChoices: 16,
  maxMessages: 256,
};

export type Mode = "reasoning" | "direct";

/** One item named by the client: by catalogue id, by SID, or (documents only) by text alone. */
export type ItemRef =
  | { kind: "id"; id: string; text?: string; param: string }
  | { kind: "sid"; sid: string; codes: number[]; id?: string; text?: string; param: string }
  /** A plain string document: an item id when the SID map knows it, else the document's text. */
  | { kind: "auto"; value: string; param: string }
  | { kind: "text"; text: string; param: string };

export interface RerankRequest {
  api: "v1" | "v2";
  model?: string;
  query: { text?: string; history: ItemRef[] };
  documents: ItemRef[];
  /** The documents as sent (returned in `document` fields). */
  rawDocuments: unknown[];
  topN?: number;
  mode?: Mode;
  returnReasoning: boolean;
  returnDocuments: boolean;
  maxReasoningTokens?: number;
  /** 0 = greedy (the default: a re-ranker should be deterministic). */
  temperature: number;
  topP: number;
  seed?: number;
}

export interface ChatRequest {
  model?: string;
  messages: { role: Role; content: string }[];
  temperature: number;
  topP: number;
  n: number;
  maxTokens?: number;
  stop: string[];
  seed?: number;
  logprobs: boolean;
  stream: boolean;
  includeUsage: boolean;
}

type Obj = Record<string, unknown>;

const typeName = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

const has = (o: Obj, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k) && o[k] !== undefined;

export function requireObject(v: unknown, param: string | undefined, what = "the request body"): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw badRequest(param, `${what} must be a JSON object, got ${typeName(v)}`);
  return v as Obj;
}

function str(o: Obj, k: string, param: string, limits: ValidationLimits, { required = false, nonEmpty = false } = {}): string | undefined {
  if (!has(o, k)) {
    if (required) throw badRequest(param, `"${param}" is required`);
    return undefined;
  }
  const v = o[k];
  if (typeof v !== "string") throw badRequest(param, `"${param}" must be a string, got ${typeName(v)}`);
  if (nonEmpty && v.trim() === "") throw badRequest(param, `"${param}" must not be empty`);
  if (v.length > limits.maxTextChars) throw badRequest(param, `"${param}" is longer than ${limits.maxTextChars} characters`);
  return v;
}

function bool(o: Obj, k: string, fallback: boolean, param = k): boolean {
  if (!has(o, k)) return fallback;
  const v = o[k];
  if (typeof v !== "boolean") throw badRequest(param, `"${param}" must be true or false, got ${typeName(v)}`);
  return v;
}

function num(o: Obj, k: string, { min, max, integer = false, minExclusive = false }: { min?: number; max?: number; integer?: boolean; minExclusive?: boolean }): number | undefined {
  if (!has(o, k) || o[k] === null) return undefined;
  const v = o[k];
  if (typeof v !== "number" || !Number.isFinite(v)) throw badRequest(k, `"${k}" must be a ${integer ? "whole " : ""}number, got ${typeName(v)}`);
  if (integer && !Number.isSafeInteger(v)) throw badRequest(k, `"${k}" must be a whole number, got ${v}`);
  if (min !== undefined && (minExclusive ? v <= min : v < min)) throw badRequest(k, `"${k}" must be ${minExclusive ? ">" : "≥"} ${min}, got ${v}`);
  if (max !== undefined && v > max) throw badRequest(k, `"${k}" must be ≤ ${max}, got ${v}`);
  return v;
}

/** A SID string, checked for syntax (levels and codebook are checked against the model later). */
function sidRef(value: string, param: string): number[] {
  try {
    return parseSid(value);
  } catch (e) {
    throw badRequest(param, `${param}: ${(e as Error).message}`, "invalid_sid");
  }
}

const looksLikeSid = (s: string): boolean => s.trimStart().startsWith(SID_BEGIN);

function itemObject(v: Obj, param: string, limits: ValidationLimits, allowTextOnly: boolean): ItemRef {
  const id = has(v, "id") ? v.id : undefined;
  if (id !== undefined && typeof id !== "string" && !(typeof id === "number" && Number.isSafeInteger(id))) {
    throw badRequest(`${param}.id`, `"${param}.id" must be a string, got ${typeName(id)}`);
  }
  const idStr = id === undefined ? undefined : String(id);
  if (idStr !== undefined && idStr.trim() === "") throw badRequest(`${param}.id`, `"${param}.id" must not be empty`);
  const sid = str(v, "sid", `${param}.sid`, limits);
  // "text" (Cohere/Jina documents) and "title" are synonyms for the item's text.
  const text = str(v, "text", `${param}.text`, limits) ?? str(v, "title", `${param}.title`, limits);
  // `param` is the most specific field, so later errors (unknown id, unknown SID) name it.
  if (sid !== undefined) return { kind: "sid", sid, codes: sidRef(sid, `${param}.sid`), id: idStr, text, param: `${param}.sid` };
  if (idStr !== undefined) return { kind: "id", id: idStr, text, param: `${param}.id` };
  if (text !== undefined && allowTextOnly) {
    if (text.trim() === "") throw badRequest(`${param}.text`, `"${param}.text" must not be empty`);
    return { kind: "text", text, param: `${param}.text` };
  }
  throw badRequest(param, `${param} must have ${allowTextOnly ? '"id", "sid" or "text"' : '"id" or "sid"'}`);
}

function historyEntry(v: unknown, param: string, limits: ValidationLimits): ItemRef {
  if (typeof v === "string") {
    if (v.trim() === "") throw badRequest(param, `"${param}" must not be empty`);
    if (v.length > limits.maxTextChars) throw badRequest(param, `"${param}" is too long`);
    return looksLikeSid(v) ? { kind: "sid", sid: v, codes: sidRef(v, param), param } : { kind: "id", id: v, param };
  }
  if (typeof v === "number" && Number.isSafeInteger(v)) return { kind: "id", id: String(v), param };
  if (typeof v === "object" && v !== null && !Array.isArray(v)) return itemObject(v as Obj, param, limits, false);
  throw badRequest(param, `"${param}" must be an item id, a SID string or an object with "id" or "sid", got ${typeName(v)}`);
}

function documentEntry(v: unknown, param: string, limits: ValidationLimits): ItemRef {
  if (typeof v === "string") {
    if (v.trim() === "") throw badRequest(param, `"${param}" must not be empty`);
    if (v.length > limits.maxTextChars) throw badRequest(param, `"${param}" is longer than ${limits.maxTextChars} characters`);
    return looksLikeSid(v) ? { kind: "sid", sid: v, codes: sidRef(v, param), param } : { kind: "auto", value: v, param };
  }
  if (typeof v === "object" && v !== null && !Array.isArray(v)) return itemObject(v as Obj, param, limits, true);
  throw badRequest(param, `"${param}" must be a string or an object with "id", "sid" or "text", got ${typeName(v)}`);
}

function mode(o: Obj): Mode | undefined {
  if (!has(o, "mode")) return undefined;
  if (o.mode !== "reasoning" && o.mode !== "direct") throw badRequest("mode", `"mode" must be "reasoning" or "direct", got ${JSON.stringify(o.mode)?.slice(0, 40)}`);
  return o.mode;
}

function model(o: Obj, limits: ValidationLimits): string | undefined {
  return str(o, "model", "model", limits);
}

/** POST /v1/rerank and /v2/rerank. */
export function parseRerank(body: unknown, api: "v1" | "v2", limits: ValidationLimits = DEFAULT_LIMITS): RerankRequest {
  const o = requireObject(body, undefined);
  const m = model(o, limits);
  if (!has(o, "query")) throw badRequest("query", `"query" is required`);
  const q = o.query;
  let query: RerankRequest["query"];
  if (typeof q === "string") {
    if (q.length > limits.maxTextChars) throw badRequest("query", `"query" is longer than ${limits.maxTextChars} characters`);
    query = { text: q.trim() === "" ? undefined : q, history: [] };
  } else if (typeof q === "object" && q !== null && !Array.isArray(q)) {
    const qo = q as Obj;
    const text = str(qo, "text", "query.text", limits);
    let history: ItemRef[] = [];
    if (has(qo, "history")) {
      if (!Array.isArray(qo.history)) throw badRequest("query.history", `"query.history" must be an array, got ${typeName(qo.history)}`);
      if (qo.history.length > limits.maxHistoryEntries) throw badRequest("query.history", `"query.history" has ${qo.history.length} entries; at most ${limits.maxHistoryEntries} are accepted`);
      history = qo.history.map((h, i) => historyEntry(h, `query.history[${i}]`, limits));
    }
    if (has(qo, "user") && typeof qo.user !== "string" && typeof qo.user !== "number") throw badRequest("query.user", `"query.user" must be a string`);
    query = { text: text && text.trim() !== "" ? text : undefined, history };
  } else {
    throw badRequest("query", `"query" must be a string or a user object ({"history": [...], "text": ...}), got ${typeName(q)}`);
  }
  if (!has(o, "documents")) throw badRequest("documents", `"documents" is required`);
  if (!Array.isArray(o.documents)) throw badRequest("documents", `"documents" must be an array, got ${typeName(o.documents)}`);
  const raw = o.documents as unknown[];
  if (raw.length === 0) throw badRequest("documents", `"documents" must not be empty`);
  if (raw.length > limits.maxCandidates) throw badRequest("documents", `"documents" has ${raw.length} entries; at most ${limits.maxCandidates} are accepted`);
  const documents = raw.map((d, i) => documentEntry(d, `documents[${i}]`, limits));
  const topN = num(o, "top_n", { min: 1, integer: true });
  const maxReasoningTokens = num(o, "max_reasoning_tokens", { min: 0, max: limits.maxReasoningTokens, integer: true });
  // Accepted for compatibility, not used: a candidate is one item, never chunked.
  num(o, "max_tokens_per_doc", { min: 1, integer: true });
  num(o, "max_chunks_per_doc", { min: 1, integer: true });
  if (has(o, "rank_fields") && !(Array.isArray(o.rank_fields) && o.rank_fields.every((f) => typeof f === "string"))) throw badRequest("rank_fields", `"rank_fields" must be an array of strings`);
  return {
    api,
    model: m,
    query,
    documents,
    rawDocuments: raw,
    topN,
    mode: mode(o),
    returnReasoning: bool(o, "return_reasoning", false),
    // Jina and vLLM return documents by default; Cohere v2 does not.
    returnDocuments: bool(o, "return_documents", api === "v1"),
    maxReasoningTokens,
    temperature: num(o, "temperature", { min: 0, max: 2 }) ?? 0,
    topP: num(o, "top_p", { min: 0, max: 1, minExclusive: true }) ?? 1,
    seed: num(o, "seed", { integer: true }),
  };
}

const CHAT_ROLES: Record<string, Role> = { system: "system", developer: "system", user: "user", assistant: "assistant" };

function messageContent(v: unknown, param: string, limits: ValidationLimits): string {
  if (typeof v === "string") {
    if (v.length > limits.maxTextChars) throw badRequest(param, `"${param}" is longer than ${limits.maxTextChars} characters`);
    return v;
  }
  if (Array.isArray(v)) {
    const parts = v.map((p, i) => {
      const pp = requireObject(p, `${param}[${i}]`, `"${param}[${i}]"`);
      if (pp.type !== "text") throw badRequest(`${param}[${i}].type`, `only "text" content parts are supported, got ${JSON.stringify(pp.type)?.slice(0, 40)}`);
      if (typeof pp.text !== "string") throw badRequest(`${param}[${i}].text`, `"${param}[${i}].text" must be a string`);
      return pp.text;
    });
    const joined = parts.join("");
    if (joined.length > limits.maxTextChars) throw badRequest(param, `"${param}" is longer than ${limits.maxTextChars} characters`);
    return joined;
  }
  throw badRequest(param, `"${param}" must be a string or an array of text parts, got ${typeName(v)}`);
}

/** POST /v1/chat/completions. */
export function parseChat(body: unknown, limits: ValidationLimits = DEFAULT_LIMITS): ChatRequest {
  const o = requireObject(body, undefined);
  const m = model(o, limits);
  if (!has(o, "messages")) throw badRequest("messages", `"messages" is required`);
  if (!Array.isArray(o.messages)) throw badRequest("messages", `"messages" must be an array, got ${typeName(o.messages)}`);
  if (o.messages.length === 0) throw badRequest("messages", `"messages" must not be empty`);
  if (o.messages.length > limits.maxMessages) throw badRequest("messages", `"messages" has ${o.messages.length} entries; at most ${limits.maxMessages} are accepted`);
  const messages = (o.messages as unknown[]).map((raw, i) => {
    const p = `messages[${i}]`;
    const msg = requireObject(raw, p, `"${p}"`);
    const role = typeof msg.role === "string" && Object.prototype.hasOwnProperty.call(CHAT_ROLES, msg.role) ? CHAT_ROLES[msg.role]! : undefined;
    if (!role) throw badRequest(`${p}.role`, `"${p}.role" must be one of system, developer, user, assistant; got ${JSON.stringify(msg.role)?.slice(0, 40)}`);
    if (!has(msg, "content")) throw badRequest(`${p}.content`, `"${p}.content" is required`);
    return { role, content: messageContent(msg.content, `${p}.content`, limits) };
  });
  let stop: string[] = [];
  if (has(o, "stop") && o.stop !== null) {
    if (typeof o.stop === "string") stop = [o.stop];
    else if (Array.isArray(o.stop) && o.stop.every((s) => typeof s === "string")) stop = o.stop as string[];
    else throw badRequest("stop", `"stop" must be a string or an array of strings`);
    if (stop.length > 4) throw badRequest("stop", `"stop" may hold at most 4 sequences`);
    if (stop.some((s) => s.length === 0 || s.length > 200)) throw badRequest("stop", `stop sequences must be 1 to 200 characters long`);
  }
  const logprobs = has(o, "logprobs") && o.logprobs !== null ? bool(o, "logprobs", false) : false;
  const topLogprobs = num(o, "top_logprobs", { min: 0, max: 20, integer: true });
  if (topLogprobs !== undefined && topLogprobs > 0) throw badRequest("top_logprobs", `"top_logprobs" > 0 is not supported (the chosen token's log-probability is returned with "logprobs": true)`);
  for (const k of ["presence_penalty", "frequency_penalty"]) {
    const v = num(o, k, { min: -2, max: 2 });
    if (v !== undefined && v !== 0) throw badRequest(k, `"${k}" is not supported (only 0)`);
  }
  if (has(o, "tools") && o.tools !== null && !(Array.isArray(o.tools) && o.tools.length === 0)) throw badRequest("tools", `tool calling is not supported`);
  if (has(o, "response_format") && o.response_format !== null) {
    const rf = requireObject(o.response_format, "response_format", `"response_format"`);
    if (rf.type !== "text") throw badRequest("response_format", `only {"type": "text"} is supported`);
  }
  if (has(o, "logit_bias") && o.logit_bias !== null) throw badRequest("logit_bias", `"logit_bias" is not supported`);
  let includeUsage = false;
  if (has(o, "stream_options") && o.stream_options !== null) {
    const so = requireObject(o.stream_options, "stream_options", `"stream_options"`);
    includeUsage = bool(so, "include_usage", false, "stream_options.include_usage");
  }
  const maxTokens = num(o, "max_completion_tokens", { min: 1, max: limits.maxTokens, integer: true }) ?? num(o, "max_tokens", { min: 1, max: limits.maxTokens, integer: true });
  return {
    model: m,
    messages,
    temperature: num(o, "temperature", { min: 0, max: 2 }) ?? 1,
    topP: num(o, "top_p", { min: 0, max: 1, minExclusive: true }) ?? 1,
    n: num(o, "n", { min: 1, max: limits.maxChoices, integer: true }) ?? 1,
    maxTokens,
    stop,
    seed: num(o, "seed", { integer: true }),
    logprobs,
    stream: has(o, "stream") && o.stream !== null ? bool(o, "stream", false) : false,
    includeUsage,
  };
}
