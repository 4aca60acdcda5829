/**
 * A minimal module tree, enough for HF-style parameter names ("model.layers.0.mlp.up_proj.weight").
 * Parameters are kept tensors (outside every tidy scope) owned by their module until dispose().
 */
import { noGrad, randn, ones, zeros, type Tensor, type TensorOptions } from "../torch/index.js";

export abstract class Module {
  training = true;
  readonly #params = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();

  protected param(name: string, t: Tensor, trainable = true): Tensor {
    t.keep();
    if (trainable) t.requiresGrad_(true);
    this.#params.set(name, t);
    return t;
  }
  protected child<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }
  /** Removes and disposes a child module (e.g. a merged LoRA adapter). */
  protected removeChild(name: string): void {
    this.#children.get(name)?.dispose();
    this.#children.delete(name);
  }
  namedChildren(): [string, Module][] {
    return [...this.#children];
  }

  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this.#params) out.push([prefix + n, p]);
    for (const [n, c] of this.#children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }
  /** Parameters by name (shared tensors, not copies). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.namedParameters());
  }
  /**
   * Copies tensors into the parameters of the same name (shape-checked; cast to the
   * parameter's dtype). Returns the names the source had that no parameter took.
   */
  loadStateDict(src: Record<string, Tensor>, { strict = true } = {}): string[] {
    const own = this.namedParameters();
    const missing = own.filter(([n]) => !(n in src)).map(([n]) => n);
    if (strict && missing.length) throw new Error(`state dict is missing ${missing.length} parameter(s): ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""}`);
    noGrad(() => {
      for (const [n, p] of own) {
        const s = src[n];
        if (!s) continue;
        if (s.shape.join() !== p.shape.join()) throw new Error(`parameter "${n}": checkpoint shape [${s.shape}] does not match the model's [${p.shape}]`);
        p.copy_(s);
      }
    });
    const used = new Set(own.map(([n]) => n));
    return Object.keys(src).filter((n) => !used.has(n));
  }
  train(on = true): this {
    this.training = on;
    for (const c of this.#children.values()) c.train(on);
    return this;
  }
  eval(): this {
    return this.train(false);
  }
  numParams(): number {
    return this.parameters().reduce((a, p) => a + p.numel, 0);
  }
  dispose(): void {
    for (const p of this.#params.values()) p.dispose();
    for (const c of this.#children.values()) c.dispose();
  }
}

/** N(0, std²) initialisation (HF's initializer_range), made without recording a graph. */
export function normalInit(shape: number[], std: number, o: TensorOptions = {}): Tensor {
  return noGrad(() => {
    const r = randn(shape, o);
    const t = r.mul(std);
    r.dispose();
    return t;
  });
}
export { ones, zeros };
