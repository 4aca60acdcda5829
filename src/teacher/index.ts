/** Teachers and reasoning traces: src/teacher's public surface. */
export * from "./teacher.js";
export * from "./openai-client.js";
export * from "./train-index.js";
export * from "./plackett-luce.js";
export * from "./evidence-teacher.js";
export * from "./llm-teacher.js";
export * from "./trace-file.js";
export * from "./traces.js";
