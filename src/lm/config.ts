/**
 * The decoder's configuration, in HF `config.json` terms so that Llama, Qwen2 and Qwen3
 * checkpoints map onto it field by field (and ours load in transformers/vLLM).
 */
export type ModelType = "llama" | "qwen2" | "qwen3";

export interface LMConfig {
  modelType: ModelType;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** hidden_size / num_heads unless the checkpoint says otherwise (Qwen3 does). */
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  maxPositions: number;
  tieWordEmbeddings: boolean;
  /** Bias on q/k/v projections (Qwen2). */
  attentionBias: boolean;
  /** RMSNorm on each head's q and k before RoPE (Qwen3). */
  qkNorm: boolean;
  bosTokenId?: number;
  eosTokenId?: number | number[];
  initializerRange: number;
}

export function makeConfig(c: Partial<LMConfig> & Pick<LMConfig, "vocabSize" | "hiddenSize" | "numLayers" | "numHeads">): LMConfig {
  const modelType = c.modelType ?? "llama";
  const cfg: LMConfig = {
    modelType,
    numKvHeads: c.numHeads,
    headDim: Math.floor(c.hiddenSize / c.numHeads),
    intermediateSize: 4 * c.hiddenSize,
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    maxPositions: 2048,
    tieWordEmbeddings: true,
    attentionBias: modelType === "qwen2",
    qkNorm: modelType === "qwen3",
    initializerRange: 0.02,
    ...c,
  };
  validateConfig(cfg);
  return cfg;
}

export function validateConfig(c: LMConfig): void {
  const bad = (what: string) => {
    throw new Error(`model config: ${what}`);
  };
  for (const k of ["vocabSize", "hiddenSize", "intermediateSize", "numLayers", "numHeads", "numKvHeads", "headDim", "maxPositions"] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) bad(`${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.numHeads % c.numKvHeads !== 0) bad(`numHeads (${c.numHeads}) must be a multiple of numKvHeads (${c.numKvHeads})`);
  if (c.headDim % 2 !== 0) bad(`headDim (${c.headDim}) must be even for RoPE`);
}

/** Our config → HF config.json (architectures and field names as transformers expects). */
export function toHFConfig(c: LMConfig): Record<string, unknown> {
  const arch = { llama: "LlamaForCausalLM", qwen2: "Qwen2ForCausalLM", qwen3: "Qwen3ForCausalLM" }[c.modelType];
  return {
    architectures: [arch],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    max_position_embeddings: c.maxPositions,
    tie_word_embeddings: c.tieWordEmbeddings,
    attention_bias: c.attentionBias,
    hidden_act: "silu",
    initializer_range: c.initializerRange,
    torch_dtype: "float32",
    ...(c.bosTokenId !== undefined ? { bos_token_id: c.bosTokenId } : {}),
    ...(c.eosTokenId !== undefined ? { eos_token_id: c.eosTokenId } : {}),
  };
}

/** HF config.json → our config. Unknown model types are refused with the list we support. */
export function fromHFConfig(j: Record<string, any>, file = "config.json"): LMConfig {
  const modelType = j.model_type as string;
  if (!["llama", "qwen2", "qwen3"].includes(modelType)) {
    throw new Error(`${file}: model_type "${modelType}" is not supported (llama, qwen2, qwen3)`);
  }
  const need = (k: string) => {
    if (typeof j[k] !== "number") throw new Error(`${file}: field "${k}" is missing or not a number`);
    return j[k] as number;
  };
  const hidden = need("hidden_size");
  const heads = need("num_attention_heads");
  const cfg: LMConfig = {
    modelType: modelType as ModelType,
    vocabSize: need("vocab_size"),
    hiddenSize: hidden,
    intermediateSize: need("intermediate_size"),
    numLayers: need("num_hidden_layers"),
    numHeads: heads,
    numKvHeads: j.num_key_value_heads ?? heads,
    headDim: j.head_dim ?? Math.floor(hidden / heads),
    rmsNormEps: j.rms_norm_eps ?? 1e-6,
    ropeTheta: j.rope_theta ?? 10000,
    maxPositions: j.max_position_embeddings ?? 2048,
    // transformers defaults tie_word_embeddings to false for all three architectures.
    tieWordEmbeddings: j.tie_word_embeddings ?? false,
    // Qwen2 always has q/k/v biases (its config has no field for it).
    attentionBias: modelType === "qwen2" ? true : (j.attention_bias ?? false),
    qkNorm: modelType === "qwen3",
    bosTokenId: j.bos_token_id ?? undefined,
    eosTokenId: j.eos_token_id ?? undefined,
    initializerRange: j.initializer_range ?? 0.02,
  };
  if (j.rope_scaling && j.rope_scaling.rope_type !== "default") {
    throw new Error(`${file}: rope_scaling ${JSON.stringify(j.rope_scaling)} is not supported yet (plain RoPE only)`);
  }
  validateConfig(cfg);
  return cfg;
}
