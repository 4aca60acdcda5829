/** Prompt building, answer formats, parsing and the decoding constraint: src/prompt's public surface. */
export * from "./output-format.js";
export * from "./complements.js";
export * from "./rerank-prompt.js";
export * from "./parse-output.js";
export * from "./constraint.js";
