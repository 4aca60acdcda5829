/**
 * Chat templates: how a conversation (system/user/assistant messages) becomes token ids, and
 * which of those ids are the assistant's (the tokens SFT and RL learn from).
 *
 * A template is data, not Jinja: per role a prefix, the end-of-turn suffix and a separator.
 * The default is Qwen's ChatML:
 *
 *   <|im_start|>system\n{content}<|im_end|>\n<|im_start|>user\n{content}<|im_end|>\n
 *   <|im_start|>assistant\n{content}<|im_end|>\n  …  [<|im_start|>assistant\n  generation prompt]
 *
 * `renderChat` tokenises each piece (prefix, content, suffix, separator) on its own, so the
 * assistant mask is exact by construction: it is 1 on the assistant's content and its suffix
 * (`<|im_end|>`: the model must learn to stop) and 0 elsewhere, including the role header and
 * the "\n" separator.
 *
 * Piecewise ids equal the ids of the whole rendered string wherever the BPE's pre-tokeniser
 * splits at the piece boundaries anyway. For ChatML that is everywhere except content that
 * *starts* with whitespace containing a line break ("\n…" after the header's "\n" forms one
 * pre-token in the whole string, two pieces here): special tokens always split, and the
 * pre-tokeniser separates a newline from the letters after it. The tests check equality for
 * ordinary ChatML conversations. When they differ, the piecewise ids are still a valid
 * encoding of the same text, and a model trained on them sees them again at inference,
 * because generation prompts are rendered the same way.
 *
 * `toJinja` writes the same template as a Jinja string for tokenizer_config.json, so that
 * transformers' `apply_chat_template` renders exactly the text `renderChatText` does.
 */
import type { TextTokenizer } from "./tokenizer.js";

export type Role = "system" | "user" | "assistant";
export const ROLES: readonly Role[] = ["system", "user", "assistant"];

export interface ChatMessage {
  role: Role;
  content: string;
}

/** One role's layout: prefix + content + suffix + separator. */
export interface RoleFormat {
  /** Before the content, e.g. "<|im_start|>user\n". Never trained. */
  prefix: string;
  /** The end-of-turn marker right after the content, e.g. "<|im_end|>". Trained for the assistant. */
  suffix: string;
  /** Between this turn and the next, e.g. "\n". Never trained (inference stops at the suffix). */
  separator: string;
}

export interface ChatTemplate {
  name: string;
  /** Once at the start of the conversation (Llama 3's "<|begin_of_text|>"); "" for ChatML. */
  bos: string;
  roles: Record<Role, RoleFormat>;
  /** Appended after the last message to ask for an assistant turn. */
  generationPrompt: string;
  /** Tokens the template relies on; rendering fails clearly if the vocabulary lacks one. */
  specialTokens: readonly string[];
  /** Tokens that end an assistant turn during generation. */
  stopTokens: readonly string[];
}

/** Qwen2/Qwen2.5/Qwen3's ChatML (without Qwen's default system prompt or thinking blocks). */
export const CHATML: ChatTemplate = {
  name: "chatml",
  bos: "",
  roles: {
    system: { prefix: "<|im_start|>system\n", suffix: "<|im_end|>", separator: "\n" },
    user: { prefix: "<|im_start|>user\n", suffix: "<|im_end|>", separator: "\n" },
    assistant: { prefix: "<|im_start|>assistant\n", suffix: "<|im_end|>", separator: "\n" },
  },
  generationPrompt: "<|im_start|>assistant\n",
  specialTokens: ["<|im_start|>", "<|im_end|>"],
  stopTokens: ["<|im_end|>"],
};

const llama3Role = (role: Role): RoleFormat => ({
  prefix: `<|start_header_id|>${role}<|end_header_id|>\n\n`,
  suffix: "<|eot_id|>",
  separator: "",
});

/** Llama 3's layout, for HF Llama checkpoints (their tokenizer has these tokens). */
export const LLAMA3: ChatTemplate = {
  name: "llama3",
  bos: "<|begin_of_text|>",
  roles: { system: llama3Role("system"), user: llama3Role("user"), assistant: llama3Role("assistant") },
  generationPrompt: "<|start_header_id|>assistant<|end_header_id|>\n\n",
  specialTokens: ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
  stopTokens: ["<|eot_id|>"],
};

export interface RenderOptions {
  template?: ChatTemplate;
  /** Append the template's generation prompt (for inference). Default false. */
  addGenerationPrompt?: boolean;
}

/** A piece of the rendered conversation; `trained` pieces are the assistant's. */
interface Piece {
  text: string;
  trained: boolean;
  /** Index of the message whose content this piece is, if it is one. */
  message?: number;
}

function checkMessages(messages: readonly ChatMessage[]): void {
  messages.forEach((m, i) => {
    if (!ROLES.includes(m.role)) throw new Error(`chat: message ${i} has unknown role ${JSON.stringify(m.role)} (expected ${ROLES.join(", ")})`);
    if (typeof m.content !== "string") throw new Error(`chat: message ${i} (${m.role}) has no string content`);
  });
}

/** The conversation as pieces, in order; their concatenation is the rendered text. */
function pieces(messages: readonly ChatMessage[], options: RenderOptions): Piece[] {
  checkMessages(messages);
  const t = options.template ?? CHATML;
  const out: Piece[] = [{ text: t.bos, trained: false }];
  messages.forEach((m, i) => {
    const f = t.roles[m.role];
    const assistant = m.role === "assistant";
    out.push(
      { text: f.prefix, trained: false },
      { text: m.content, trained: assistant, message: i },
      { text: f.suffix, trained: assistant },
      { text: f.separator, trained: false },
    );
  });
  if (options.addGenerationPrompt) out.push({ text: t.generationPrompt, trained: false });
  return out;
}

/** The rendered conversation as text (what `renderChat`'s ids spell). */
export function renderChatText(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
  return pieces(messages, options)
    .map((p) => p.text)
    .join("");
}

export interface RenderedChat {
  ids: number[];
  /** 1 where the token is the assistant's content or end-of-turn suffix, else 0. */
  assistantMask: number[];
  /** For each message, the token span [start, end) of its content. */
  contentSpans: { role: Role; start: number; end: number }[];
  text: string;
}

/** Checks once per tokenizer and template that the template's tokens are single tokens. */
const checked = new WeakMap<TextTokenizer, WeakSet<ChatTemplate>>();
function checkTemplateTokens(tokenizer: TextTokenizer, template: ChatTemplate): void {
  let seen = checked.get(tokenizer);
  if (!seen) checked.set(tokenizer, (seen = new WeakSet()));
  if (seen.has(template)) return;
  for (const token of template.specialTokens) {
    if (tokenizer.tokenToId(token) === undefined) {
      throw new Error(`chat: template "${template.name}" needs the token ${JSON.stringify(token)}, which the tokenizer lacks`);
    }
  }
  seen.add(template);
}

/**
 * Renders and tokenises a conversation. All pieces go to the tokenizer in one batch (and
 * repeated ones, such as role headers, come from its cache).
 */
export async function renderChat(messages: readonly ChatMessage[], tokenizer: TextTokenizer, options: RenderOptions = {}): Promise<RenderedChat> {
  const template = options.template ?? CHATML;
  checkTemplateTokens(tokenizer, template);
  const ps = pieces(messages, { ...options, template });
  const encoded = await tokenizer.encodeBatch(ps.filter((p) => p.text.length > 0).map((p) => p.text));
  const ids: number[] = [];
  const assistantMask: number[] = [];
  const contentSpans: RenderedChat["contentSpans"] = [];
  let next = 0;
  for (const p of ps) {
    const start = ids.length;
    if (p.text.length > 0) {
      for (const id of encoded[next++]!) {
        ids.push(id);
        assistantMask.push(p.trained ? 1 : 0);
      }
    }
    if (p.message !== undefined) contentSpans.push({ role: messages[p.message]!.role, start, end: ids.length });
  }
  return { ids, assistantMask, contentSpans, text: ps.map((p) => p.text).join("") };
}

/** The ids that end an assistant turn, for generation. */
export function stopTokenIds(tokenizer: TextTokenizer, template: ChatTemplate = CHATML): number[] {
  return template.stopTokens.map((t) => tokenizer.requireId(t));
}

/**
 * The template as Jinja for tokenizer_config.json's `chat_template` (transformers renders it
 * with `messages` and `add_generation_prompt`). Literals are JSON-quoted, which Jinja's string
 * syntax accepts (\n, \", \\, \uXXXX); every tag trims whitespace so only the literals print.
 */
export function toJinja(template: ChatTemplate = CHATML): string {
  const lit = (s: string) => JSON.stringify(s);
  const branches = ROLES.map(
    (role, i) =>
      `{%- ${i === 0 ? "if" : "elif"} message['role'] == ${lit(role)} %}` +
      `{{- ${lit(template.roles[role].prefix)} + message['content'] + ${lit(template.roles[role].suffix + template.roles[role].separator)} }}`,
  ).join("");
  return (
    `{{- ${lit(template.bos)} }}` +
    `{%- for message in messages %}${branches}` +
    `{%- else %}{{- raise_exception('unknown role: ' + message['role']) }}{%- endif %}{%- endfor %}` +
    `{%- if add_generation_prompt %}{{- ${lit(template.generationPrompt)} }}{%- endif %}`
  );
}

/**
 * The token that fills finished rows and right-padded batches: the tokenizer's pad token, else
 * its end-of-sequence token, else id 0. Padding is masked, so only its being a real id matters;
 * training, evaluation and serving use this one choice.
 */
export function padTokenId(tokenizer: TextTokenizer): number {
  for (const name of [tokenizer.special.pad, tokenizer.special.eos]) {
    const id = name === undefined ? undefined : tokenizer.tokenToId(name);
    if (id !== undefined) return id;
  }
  return 0;
}
