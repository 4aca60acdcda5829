/**
 * The spelling of semantic-ID tokens in the vocabulary: `<|sid_begin|><s_a_97><s_b_168>…<|sid_end|>`,
 * one token per level, the level named by a letter (a, b, c, …) so that code 97 at level a and
 * code 97 at level b are different tokens, as in the paper. The tokenizer adds them; the SID map
 * (src/sid/sidmap.ts) writes items' SIDs with them.
 */
export const SID_BEGIN = "<|sid_begin|>";
export const SID_END = "<|sid_end|>";

/** The letter naming a level: 0 → "a", 1 → "b", … (26 levels at most). */
export function levelLetter(level: number): string {
  if (!(Number.isInteger(level) && level >= 0 && level < 26)) throw new Error(`SID level ${level} out of range [0, 26)`);
  return String.fromCharCode(97 + level);
}

/** The token for one code at one level, e.g. `<s_a_97>`. */
export function codeToken(level: number, code: number): string {
  return `<s_${levelLetter(level)}_${code}>`;
}

/** Every SID token, begin/end first, then level by level (what the LM's vocabulary grows by). */
export function sidVocabulary(levels: number, codebookSize: number): string[] {
  const out = [SID_BEGIN, SID_END];
  for (let l = 0; l < levels; l++) for (let c = 0; c < codebookSize; c++) out.push(codeToken(l, c));
  return out;
}
