/**
 * GR2's text tokenizer: a thin layer over HF `tokenizers` (the official Node binding), so that
 * every encode/decode is done by the same Rust code transformers and vLLM use, and a
 * `tokenizer.json` we write is read by them unchanged (and any HF `tokenizer.json` by us).
 *
 * What this layer adds:
 *  - `TextTokenizer.train`: a byte-level BPE learnt on the catalogue's own text (src/lm/bpe-trainer.ts,
 *    because the binding's trainer takes no options), laid out like Qwen2's tokenizer.json;
 *  - the SID vocabulary (`<|sid_begin|>`, `<|sid_end|>`, `<s_a_0>` … one token per level and
 *    code) as added tokens, so each SID token is exactly one id and never merges with text;
 *  - a synchronous cache in front of HF's asynchronous `encode`, since prompts repeat the same
 *    fragments (role headers, item titles) in hot loops, and a synchronous `decodeSync` for
 *    streaming generation;
 *  - errors that name the file.
 *
 * Encoding never adds the tokenizer's own special tokens (BOS etc. from a post-processor)
 * unless asked: prompt layout belongs to the chat template (src/lm/chat.ts).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as HF from "tokenizers";
import { writeAtomicWith, writeJsonAtomic } from "../util/atomic.js";
import { SID_BEGIN, SID_END, codeToken } from "./sid-tokens.js";
import { PRETOKENIZE_PATTERN, countWords, trainBpeFromWords } from "./bpe-trainer.js";
import { CHATML, toJinja } from "./chat.js";

// The binding is CommonJS (NAPI-RS); load it through require so named exports resolve.
const hf = createRequire(import.meta.url)("tokenizers") as typeof HF;

/** Special tokens of a freshly trained tokenizer (Qwen's names, plus a dedicated pad). */
export const DEFAULT_SPECIAL_TOKENS: readonly string[] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"];

export const TOKENIZER_FILE = "tokenizer.json";
export const TOKENIZER_CONFIG_FILE = "tokenizer_config.json";

export interface TrainTokenizerOptions {
  /** Total vocabulary: 256 bytes + merges + special tokens (SID tokens are added later). */
  vocabSize: number;
  /** Added as special tokens after the BPE vocabulary, in this order. Default DEFAULT_SPECIAL_TOKENS. */
  specialTokens?: readonly string[];
  /** Pairs seen fewer times are not merged (default 2); training may then stop below vocabSize. */
  minFrequency?: number;
}

export interface EncodeOptions {
  /** Let the tokenizer's post-processor add its special tokens (e.g. Llama's BOS). Default false. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (`<|im_end|>` …) from the text. SID tokens are not special and stay. */
  skipSpecial?: boolean;
}

/** Where the SID tokens sit in the vocabulary. */
export interface SidTokenIds {
  levels: number;
  codebookSize: number;
  begin: number;
  end: number;
  /** Per level, the ids of codes 0 … codebookSize−1 (`first + code` when `contiguous`). */
  levelRanges: { level: number; first: number; last: number }[];
  /** True when every level's codes have consecutive ids (always so for tokens added in one call). */
  contiguous: boolean;
}

/** Named special tokens, as transformers' tokenizer_config.json records them. */
export interface SpecialTokenNames {
  eos?: string;
  pad?: string;
  bos?: string;
}

interface AddedTokenJson {
  id: number;
  content: string;
  special: boolean;
}

/** The parts of tokenizer.json this file builds; the rest of the format is left to HF. */
function byteLevelTokenizerJson(vocab: readonly string[], merges: readonly (readonly [string, string])[], specials: readonly string[]) {
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, i) => ({
      id: vocab.length + i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    // No normaliser (Qwen's is NFC): decode(encode(x)) gives back exactly x's bytes.
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [{ type: "Split", pattern: { Regex: PRETOKENIZE_PATTERN }, behavior: "Isolated", invert: false }, byteLevel],
    },
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
      // "a b" strings: byte-level tokens never contain a space, and every tokenizers version reads this form.
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/** A tokenizer_config.json value for a special token: a string, `{content}` or null. */
function tokenName(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") return (v as { content: string }).content;
  return undefined;
}

/** Least-recently-used cache of encodings; Map iteration order is insertion order. */
class EncodeCache {
  private readonly map = new Map<string, readonly number[]>();
  constructor(
    readonly capacity: number,
    /** Longer texts are rarely repeated; caching them would only evict useful entries. */
    readonly maxTextLength: number,
  ) {}

  get(text: string): readonly number[] | undefined {
    const ids = this.map.get(text);
    if (ids !== undefined) {
      this.map.delete(text);
      this.map.set(text, ids);
    }
    return ids;
  }

  set(text: string, ids: readonly number[]): void {
    if (this.capacity <= 0 || text.length > this.maxTextLength) return;
    this.map.delete(text);
    this.map.set(text, ids);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}

export interface TokenizerCacheOptions {
  /** Entries kept by the encode cache (default 100,000; 0 disables it). */
  cacheSize?: number;
  /** Texts longer than this many UTF-16 units are not cached (default 512). */
  cacheMaxTextLength?: number;
}

export class TextTokenizer {
  /** Ids of added tokens flagged special (decode's skipSpecial drops these). */
  private readonly specialIds = new Set<number>();
  private readonly cache: EncodeCache;
  private maxId = -1;
  private sidTable?: { info: SidTokenIds; idOfCode: Int32Array; codeOfId: Map<number, number> };
  /** tokenizer_config.json as loaded (kept so that saving an HF folder loses none of its fields). */
  private config: Record<string, unknown>;
  special: SpecialTokenNames;

  private constructor(
    /** The underlying HF tokenizer, for anything this class does not wrap. */
    readonly hf: HF.Tokenizer,
    addedTokens: readonly AddedTokenJson[],
    config: Record<string, unknown>,
    options: TokenizerCacheOptions = {},
  ) {
    for (const t of addedTokens) if (t.special) this.specialIds.add(t.id);
    for (const id of Object.values(hf.getVocab(true))) if (id > this.maxId) this.maxId = id;
    this.cache = new EncodeCache(options.cacheSize ?? 100_000, options.cacheMaxTextLength ?? 512);
    this.config = config;
    this.special = { eos: tokenName(config.eos_token), pad: tokenName(config.pad_token), bos: tokenName(config.bos_token) };
    this.detectSidTokens();
  }

  /**
   * Trains a byte-level BPE on `texts` and returns it loaded in HF tokenizers. The
   * pre-tokeniser used for counting words is HF's own (from the very tokenizer.json being
   * built), so training and encoding split text identically.
   */
  static train(texts: Iterable<string>, options: TrainTokenizerOptions, cache?: TokenizerCacheOptions): TextTokenizer {
    const specials = [...(options.specialTokens ?? DEFAULT_SPECIAL_TOKENS)];
    if (new Set(specials).size !== specials.length) throw new Error(`tokenizer: duplicate special tokens in ${JSON.stringify(specials)}`);
    const bpeSize = options.vocabSize - specials.length;
    if (!Number.isInteger(options.vocabSize) || bpeSize < 256) {
      throw new Error(`tokenizer: vocabSize must be an integer ≥ 256 + ${specials.length} special tokens, got ${options.vocabSize}`);
    }
    // A bytes-only tokenizer gives us HF's pre-tokeniser for the exact configuration we write.
    const bytesOnly = trainBpeFromWords(new Map(), { vocabSize: 256 });
    const skeleton = hf.Tokenizer.fromString(JSON.stringify(byteLevelTokenizerJson(bytesOnly.vocab, [], [])));
    const preTokenizer = skeleton.getPreTokenizer()!;
    const words = countWords(texts, {
      specialTokens: specials,
      preTokenize: (text) => preTokenizer.preTokenizeString(text).map(([piece]) => piece),
    });
    const bpe = trainBpeFromWords(words, { vocabSize: bpeSize, minFrequency: options.minFrequency });
    const json = byteLevelTokenizerJson(bpe.vocab, bpe.merges, specials);
    const config: Record<string, unknown> = {
      tokenizer_class: "PreTrainedTokenizerFast",
      clean_up_tokenization_spaces: false,
      model_max_length: 131072,
      eos_token: specials.includes("<|endoftext|>") ? "<|endoftext|>" : null,
      pad_token: specials.includes("<|pad|>") ? "<|pad|>" : null,
      bos_token: null,
    };
    // With ChatML's tokens present, transformers' apply_chat_template renders what chat.ts does.
    if (CHATML.specialTokens.every((t) => specials.includes(t))) config.chat_template = toJinja(CHATML);
    return new TextTokenizer(hf.Tokenizer.fromString(JSON.stringify(json)), json.added_tokens, config, cache);
  }

  /**
   * Loads a tokenizer.json, or an HF folder holding one (its tokenizer_config.json, if present,
   * supplies the eos/pad/bos names and is carried along on save).
   */
  static load(path: string, cache?: TokenizerCacheOptions): TextTokenizer {
    const isDir = existsSync(path) && statSync(path).isDirectory();
    const file = isDir ? join(path, TOKENIZER_FILE) : path;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new Error(`tokenizer: cannot read ${file}: ${(e as Error).message}`);
    }
    let parsed: { added_tokens?: AddedTokenJson[] };
    let tokenizer: HF.Tokenizer;
    try {
      parsed = JSON.parse(text) as typeof parsed;
      tokenizer = hf.Tokenizer.fromString(text);
    } catch (e) {
      throw new Error(`tokenizer: ${file} is not a valid tokenizer.json: ${(e as Error).message}`);
    }
    const configFile = join(dirname(file), TOKENIZER_CONFIG_FILE);
    let config: Record<string, unknown> = {};
    if (existsSync(configFile)) {
      try {
        config = JSON.parse(readFileSync(configFile, "utf8")) as Record<string, unknown>;
      } catch (e) {
        throw new Error(`tokenizer: ${configFile} is not valid JSON: ${(e as Error).message}`);
      }
    }
    return new TextTokenizer(tokenizer, parsed.added_tokens ?? [], config, cache);
  }

  /**
   * Writes `dir/tokenizer.json` (by HF, so the format is exactly theirs) and
   * `dir/tokenizer_config.json`, each to a temporary name then renamed, so a crash never leaves
   * half a file. `chatTemplate` (a Jinja string, see chat.ts `toJinja`) is recorded in the
   * config for transformers' `apply_chat_template`. Returns the tokenizer.json path.
   */
  save(dir: string, options: { chatTemplate?: string } = {}): string {
    const file = join(dir, TOKENIZER_FILE);
    const config: Record<string, unknown> = {
      ...this.config,
      eos_token: this.special.eos ?? null,
      pad_token: this.special.pad ?? null,
      bos_token: this.special.bos ?? null,
    };
    if (options.chatTemplate !== undefined) config.chat_template = options.chatTemplate;
    writeJsonAtomic(join(dir, TOKENIZER_CONFIG_FILE), config); // also creates dir
    // The binding can only save to a path: it saves to a temporary file, renamed into place.
    try {
      writeAtomicWith(file, (tmp) => this.hf.save(tmp, true));
    } catch (e) {
      throw new Error(`tokenizer: cannot write ${file}: ${(e as Error).message}`);
    }
    this.config = config;
    return file;
  }

  /** What an embedding table needs: the largest id (added tokens included) + 1. */
  get vocabSize(): number {
    return this.maxId + 1;
  }

  tokenToId(token: string): number | undefined {
    return this.hf.tokenToId(token) ?? undefined;
  }

  idToToken(id: number): string | undefined {
    return this.hf.idToToken(id) ?? undefined;
  }

  /** The id of a token that must exist (e.g. `<|im_end|>`); the error names it. */
  requireId(token: string): number {
    const id = this.tokenToId(token);
    if (id === undefined) throw new Error(`tokenizer: token ${JSON.stringify(token)} is not in the vocabulary`);
    return id;
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** Encodes one text. Served from the cache when it has been seen; the result is the caller's to keep. */
  async encode(text: string, options: EncodeOptions = {}): Promise<number[]> {
    if (options.addSpecialTokens) return (await this.hf.encode(text, null, { addSpecialTokens: true })).getIds();
    const hit = this.cache.get(text);
    if (hit) return hit.slice();
    const ids = (await this.hf.encode(text, null, { addSpecialTokens: false })).getIds();
    this.cache.set(text, ids);
    return ids.slice();
  }

  /**
   * Encodes many texts with one call into HF (which runs them in parallel off the main thread):
   * cached texts are answered at once, the distinct rest are encoded together.
   */
  async encodeBatch(texts: readonly string[], options: EncodeOptions = {}): Promise<number[][]> {
    if (options.addSpecialTokens) {
      return (await this.hf.encodeBatch([...texts], { addSpecialTokens: true })).map((e) => e.getIds());
    }
    const out: (number[] | undefined)[] = texts.map((t) => this.cache.get(t)?.slice());
    const missing = [...new Set(texts.filter((_, i) => out[i] === undefined))];
    if (missing.length > 0) {
      const encoded = await this.hf.encodeBatch(missing, { addSpecialTokens: false });
      const fresh = new Map<string, number[]>();
      missing.forEach((t, i) => {
        const ids = encoded[i]!.getIds();
        fresh.set(t, ids);
        this.cache.set(t, ids);
      });
      texts.forEach((t, i) => {
        if (out[i] === undefined) out[i] = fresh.get(t)!.slice();
      });
    }
    return out as number[][];
  }

  /** The cached encoding of `text`, synchronously, or undefined if it was never encoded (or was evicted). */
  encodeCached(text: string): number[] | undefined {
    return this.cache.get(text)?.slice();
  }

  /** Encodes `texts` into the cache (so later `encodeCached` calls hit). */
  async warm(texts: readonly string[]): Promise<void> {
    await this.encodeBatch(texts);
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  async decode(ids: readonly number[], options: DecodeOptions = {}): Promise<string> {
    return this.hf.decode([...ids], options.skipSpecial ?? false);
  }

  /**
   * Synchronous decode, for streaming generation: the same steps HF's decode takes (ids →
   * tokens, special tokens dropped if asked, then the decoder), using the binding's synchronous
   * pieces. Unknown ids are skipped, as HF does.
   */
  decodeSync(ids: readonly number[], options: DecodeOptions = {}): string {
    const tokens: string[] = [];
    for (const id of ids) {
      if (options.skipSpecial && this.specialIds.has(id)) continue;
      const t = this.hf.idToToken(id);
      if (t !== null && t !== undefined) tokens.push(t);
    }
    const decoder = this.hf.getDecoder();
    return decoder ? decoder.decode(tokens) : tokens.join(" ");
  }

  /**
   * Adds tokens that are matched in raw text before pre-tokenisation (so never split), as
   * special (dropped by skipSpecial) or not. Existing tokens keep their ids. Returns the ids.
   */
  addTokens(tokens: readonly string[], options: { special: boolean }): number[] {
    const added = tokens.filter((t) => this.hf.tokenToId(t) === null);
    if (added.length > 0) {
      this.hf.addAddedTokens(added.map((t) => new hf.AddedToken(t, options.special, { normalized: false })));
      // Cached encodings may contain a text that is now one token.
      this.cache.clear();
    }
    const ids = tokens.map((t) => this.requireId(t));
    for (const id of ids) if (id > this.maxId) this.maxId = id;
    if (options.special) for (const t of added) this.specialIds.add(this.requireId(t));
    return ids;
  }

  /**
   * Adds the SID vocabulary: `<|sid_begin|>`, `<|sid_end|>`, then `<s_a_0>` … level by level
   * (src/lm/sid-tokens.ts names them). They are not special: decoded model output keeps its SIDs.
   * Idempotent: tokens already present (e.g. in a loaded checkpoint's tokenizer) keep their ids.
   */
  addSidTokens(options: { levels?: number; codebookSize?: number } = {}): SidTokenIds {
    const levels = options.levels ?? 4;
    const codebookSize = options.codebookSize ?? 256;
    if (!(Number.isInteger(levels) && levels >= 1 && levels <= 26)) throw new Error(`tokenizer: SID levels must be in [1, 26], got ${levels}`);
    if (!(Number.isInteger(codebookSize) && codebookSize >= 1)) throw new Error(`tokenizer: SID codebookSize must be ≥ 1, got ${codebookSize}`);
    const tokens = [SID_BEGIN, SID_END];
    for (let l = 0; l < levels; l++) for (let c = 0; c < codebookSize; c++) tokens.push(codeToken(l, c));
    const ids = this.addTokens(tokens, { special: false });

    const idOfCode = Int32Array.from(ids.slice(2));
    const codeOfId = new Map<number, number>();
    idOfCode.forEach((id, i) => codeOfId.set(id, i));
    const levelRanges = Array.from({ length: levels }, (_, level) => ({
      level,
      first: idOfCode[level * codebookSize]!,
      last: idOfCode[(level + 1) * codebookSize - 1]!,
    }));
    const contiguous = levelRanges.every((r) => r.last - r.first === codebookSize - 1 && idOfCode.subarray(r.level * codebookSize, (r.level + 1) * codebookSize).every((id, c) => id === r.first + c));
    const info: SidTokenIds = { levels, codebookSize, begin: ids[0]!, end: ids[1]!, levelRanges, contiguous };
    this.sidTable = { info, idOfCode, codeOfId };
    return info;
  }

  /** The SID vocabulary, if added (or found in a loaded tokenizer). */
  get sid(): SidTokenIds | undefined {
    return this.sidTable?.info;
  }

  private requireSid() {
    if (!this.sidTable) throw new Error("tokenizer: no SID tokens; call addSidTokens first");
    return this.sidTable;
  }

  /** A loaded tokenizer that already has SID tokens gets its table without an addSidTokens call. */
  private detectSidTokens(): void {
    if (this.hf.tokenToId(SID_BEGIN) === null || this.hf.tokenToId(SID_END) === null) return;
    let levels = 0;
    while (levels < 26 && this.hf.tokenToId(codeToken(levels, 0)) !== null) levels++;
    let codebookSize = 0;
    while (this.hf.tokenToId(codeToken(0, codebookSize)) !== null) codebookSize++;
    if (levels > 0 && codebookSize > 0) this.addSidTokens({ levels, codebookSize });
  }

  /** The ids of one item's SID: begin, one code token per level, end. */
  sidTokenIds(codes: readonly number[]): number[] {
    const { info, idOfCode } = this.requireSid();
    if (codes.length !== info.levels) throw new Error(`tokenizer: SID has ${codes.length} codes, expected ${info.levels}`);
    const out = [info.begin];
    codes.forEach((code, level) => {
      if (!(Number.isInteger(code) && code >= 0 && code < info.codebookSize)) {
        throw new Error(`tokenizer: SID code ${code} at level ${level} is outside [0, ${info.codebookSize})`);
      }
      out.push(idOfCode[level * info.codebookSize + code]!);
    });
    out.push(info.end);
    return out;
  }

  /** Which level and code a token id stands for, or undefined if it is not a SID code token. */
  sidCodeOf(id: number): { level: number; code: number } | undefined {
    const { info, codeOfId } = this.requireSid();
    const i = codeOfId.get(id);
    return i === undefined ? undefined : { level: Math.floor(i / info.codebookSize), code: i % info.codebookSize };
  }

  /** The inverse of `sidTokenIds`: strict (begin, codes in level order, end; nothing else). */
  sidCodes(ids: readonly number[]): number[] {
    const { info } = this.requireSid();
    const fail = (why: string): never => {
      throw new Error(`tokenizer: ids [${ids.join(", ")}] are not a SID: ${why}`);
    };
    if (ids.length !== info.levels + 2) fail(`expected ${info.levels + 2} ids (begin, ${info.levels} codes, end)`);
    if (ids[0] !== info.begin) fail("does not start with <|sid_begin|>");
    if (ids[ids.length - 1] !== info.end) fail("does not end with <|sid_end|>");
    const codes: number[] = [];
    for (let level = 0; level < info.levels; level++) {
      const c = this.sidCodeOf(ids[level + 1]!);
      if (!c || c.level !== level) fail(`id ${ids[level + 1]} is not a level-${level} code token`);
      codes.push(c!.code);
    }
    return codes;
  }
}

/**
 * Where two tokenizers disagree (vocabulary size, or the first id that names another token), or
 * null when they are the same. Distillation compares token distributions id by id, so a
 * student and teacher must agree on every id.
 */
export function tokenizerMismatch(a: TextTokenizer, b: TextTokenizer): string | null {
  if (a.vocabSize !== b.vocabSize) return `${a.vocabSize} tokens against ${b.vocabSize}`;
  for (let id = 0; id < a.vocabSize; id++) {
    if (a.idToToken(id) !== b.idToToken(id)) return `id ${id} is ${JSON.stringify(a.idToToken(id))} against ${JSON.stringify(b.idToToken(id))}`;
  }
  return null;
}
