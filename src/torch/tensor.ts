/**
 * `Tensor`: a handle to a libtorch tensor, with PyTorch-like methods.
 *
 * Memory is freed deterministically, never left to the GC: every tensor made inside
 * `tidy(fn)` is disposed when `fn` returns, except what `fn` returns (which moves to the
 * enclosing scope) and what was `keep()`-ed. `using t = ...` and `t.dispose()` work too. A
 * FinalizationRegistry frees tensors that escaped every scope and were garbage-collected, as a
 * safety net only: a loop that relies on it will grow until the GC happens to run.
 */
import { native } from "./native.js";
import { assertDType, DTYPE_CODES, DTYPES_BY_CODE, viewAs, type DType, type TypedArrayFor } from "./dtype.js";

type Scope = Tensor[];
const scopes: Scope[] = [];

const finalizer = new FinalizationRegistry<number>((h) => native.free(h));

export class Tensor implements Disposable {
  #h: number;
  #meta: [number, string, ...number[]] | undefined;
  /** True once `keep()` took this tensor out of scope-based disposal. */
  #kept = false;

  /** Wraps a raw handle from the addon. Library code only; users get tensors from ops. */
  constructor(handle: number) {
    this.#h = handle;
    finalizer.register(this, handle, this);
    const scope = scopes[scopes.length - 1];
    if (scope) scope.push(this);
  }

  /** The addon handle; throws if the tensor was disposed. */
  get handle(): number {
    if (this.#h < 0) throw new Error("tensor is disposed: it was freed by dispose() or by the tidy() scope that created it (keep() it or return it from the scope to use it later)");
    return this.#h;
  }
  get disposed(): boolean {
    return this.#h < 0;
  }

  dispose(): void {
    if (this.#h < 0) return;
    finalizer.unregister(this);
    native.free(this.#h);
    this.#h = -1;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  /** Exempts this tensor from scope disposal (parameters, caches, optimiser state). */
  keep(): this {
    this.#kept = true;
    return this;
  }
  get kept(): boolean {
    return this.#kept;
  }

  // ---- metadata ----------------------------------------------------------------------
  #m(): [number, string, ...number[]] {
    return (this.#meta ??= native.meta(this.handle));
  }
  get dtype(): DType {
    return DTYPES_BY_CODE[this.#m()[0]]!;
  }
  get device(): string {
    return this.#m()[1];
  }
  get shape(): number[] {
    return this.#m().slice(2) as number[];
  }
  get ndim(): number {
    return this.#m().length - 2;
  }
  size(dim: number): number {
    const s = this.shape;
    const d = dim < 0 ? dim + s.length : dim;
    if (d < 0 || d >= s.length) throw new RangeError(`dim ${dim} is out of range for a ${s.length}-d tensor`);
    return s[d]!;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get strides(): number[] {
    return native.strides(this.handle);
  }
  get isContiguous(): boolean {
    return native.isContiguous(this.handle);
  }
  toString(): string {
    return this.disposed ? "Tensor(disposed)" : `Tensor(shape=[${this.shape.join(", ")}], dtype=${this.dtype}, device=${this.device})`;
  }

  // ---- reading values ----------------------------------------------------------------
  /** The raw values in row-major order, in the dtype's typed array (bf16/f16 as bit patterns). */
  data<D extends DType = DType>(): TypedArrayFor[D] {
    return viewAs(this.dtype, native.toBuffer(this.handle)) as TypedArrayFor[D];
  }
  /** Values as plain numbers (floats of any width are converted; int64 via Number). */
  toArray(): number[] {
    const d = this.dtype;
    if (d === "bfloat16" || d === "float16") return withTemp(this.to("float32"), (t) => Array.from(t.data<"float32">()));
    if (d === "int64") return Array.from(this.data<"int64">(), Number);
    return Array.from(this.data() as ArrayLike<number>);
  }
  toFloat32Array(): Float32Array {
    if (this.dtype === "float32") return this.data<"float32">();
    return withTemp(this.to("float32"), (t) => t.data<"float32">());
  }
  item(): number {
    return native.item(this.handle);
  }

  // ---- elementwise -------------------------------------------------------------------
  add(o: Tensor | number): Tensor { return binary(this, o, "add", "addScalar"); }
  sub(o: Tensor | number): Tensor { return binary(this, o, "sub", "subScalar"); }
  /** `s - this` for a number s. */
  rsub(s: number): Tensor { return wrap(native.rsubScalar(this.handle, s)); }
  mul(o: Tensor | number): Tensor { return binary(this, o, "mul", "mulScalar"); }
  div(o: Tensor | number): Tensor { return binary(this, o, "div", "divScalar"); }
  pow(o: Tensor | number): Tensor { return binary(this, o, "pow", "powScalar"); }
  eq(o: Tensor | number): Tensor { return binary(this, o, "eq", "eqScalar"); }
  ne(o: Tensor | number): Tensor { return binary(this, o, "ne", "neScalar"); }
  lt(o: Tensor | number): Tensor { return binary(this, o, "lt", "ltScalar"); }
  le(o: Tensor | number): Tensor { return binary(this, o, "le", "leScalar"); }
  gt(o: Tensor | number): Tensor { return binary(this, o, "gt", "gtScalar"); }
  ge(o: Tensor | number): Tensor { return binary(this, o, "ge", "geScalar"); }
  maximum(o: Tensor): Tensor { return wrap(native.maximum(this.handle, o.handle)); }
  minimum(o: Tensor): Tensor { return wrap(native.minimum(this.handle, o.handle)); }
  logicalAnd(o: Tensor): Tensor { return wrap(native.logicalAnd(this.handle, o.handle)); }
  logicalOr(o: Tensor): Tensor { return wrap(native.logicalOr(this.handle, o.handle)); }
  logicalNot(): Tensor { return unary(this, "logicalNot"); }
  neg(): Tensor { return unary(this, "neg"); }
  exp(): Tensor { return unary(this, "exp"); }
  log(): Tensor { return unary(this, "log"); }
  log1p(): Tensor { return unary(this, "log1p"); }
  sqrt(): Tensor { return unary(this, "sqrt"); }
  rsqrt(): Tensor { return unary(this, "rsqrt"); }
  abs(): Tensor { return unary(this, "abs"); }
  tanh(): Tensor { return unary(this, "tanh"); }
  sigmoid(): Tensor { return unary(this, "sigmoid"); }
  relu(): Tensor { return unary(this, "relu"); }
  silu(): Tensor { return unary(this, "silu"); }
  gelu(approximate: "none" | "tanh" = "none"): Tensor { return wrap(native.gelu(this.handle, approximate === "tanh")); }
  sin(): Tensor { return unary(this, "sin"); }
  cos(): Tensor { return unary(this, "cos"); }
  square(): Tensor { return unary(this, "square"); }
  reciprocal(): Tensor { return unary(this, "reciprocal"); }
  sign(): Tensor { return unary(this, "sign"); }
  floor(): Tensor { return unary(this, "floor"); }
  isnan(): Tensor { return unary(this, "isnan"); }
  clamp(min?: number | null, max?: number | null): Tensor { return wrap(native.clamp(this.handle, min ?? null, max ?? null)); }
  maskedFill(mask: Tensor, value: number): Tensor { return wrap(native.maskedFill(this.handle, mask.handle, value)); }

  // ---- reductions (dims omitted = all) ---------------------------------------------------
  sum(dims: number | number[] = [], keepdim = false): Tensor { return wrap(native.sum(this.handle, dimList(dims), keepdim)); }
  mean(dims: number | number[] = [], keepdim = false): Tensor { return wrap(native.mean(this.handle, dimList(dims), keepdim)); }
  amax(dims: number | number[], keepdim = false): Tensor { return wrap(native.amax(this.handle, dimList(dims), keepdim)); }
  amin(dims: number | number[], keepdim = false): Tensor { return wrap(native.amin(this.handle, dimList(dims), keepdim)); }
  max(dim: number, keepdim = false): { values: Tensor; indices: Tensor } { return pair(native.maxDim(this.handle, dim, keepdim)); }
  min(dim: number, keepdim = false): { values: Tensor; indices: Tensor } { return pair(native.minDim(this.handle, dim, keepdim)); }
  argmax(dim: number, keepdim = false): Tensor { return wrap(native.argmax(this.handle, dim, keepdim)); }
  logsumexp(dims: number | number[], keepdim = false): Tensor { return wrap(native.logsumexp(this.handle, dimList(dims), keepdim)); }
  var(dims: number | number[] = [], { unbiased = true, keepdim = false } = {}): Tensor { return wrap(native.var(this.handle, dimList(dims).length ? dimList(dims) : this.shape.map((_, i) => i), unbiased, keepdim)); }
  norm(p = 2): Tensor { return wrap(native.norm(this.handle, p)); }
  cumsum(dim: number): Tensor { return wrap(native.cumsum(this.handle, dim)); }
  all(): Tensor { return unary(this, "all"); }
  any(): Tensor { return unary(this, "any"); }
  softmax(dim: number): Tensor { return wrap(native.softmax(this.handle, dim)); }
  logSoftmax(dim: number): Tensor { return wrap(native.logSoftmax(this.handle, dim)); }

  // ---- linear algebra ------------------------------------------------------------------
  matmul(o: Tensor): Tensor { return wrap(native.matmul(this.handle, o.handle)); }

  // ---- views and layout ----------------------------------------------------------------
  reshape(...shape: number[]): Tensor { return wrap(native.reshape(this.handle, shape)); }
  view(...shape: number[]): Tensor { return wrap(native.view(this.handle, shape)); }
  permute(...dims: number[]): Tensor { return wrap(native.permute(this.handle, dims)); }
  transpose(a: number, b: number): Tensor { return wrap(native.transpose(this.handle, a, b)); }
  /** The last two dims swapped. */
  get T(): Tensor { return this.transpose(-2, -1); }
  narrow(dim: number, start: number, length: number): Tensor { return wrap(native.narrow(this.handle, dim, start, length)); }
  select(dim: number, index: number): Tensor { return wrap(native.select(this.handle, dim, index)); }
  squeeze(dim: number): Tensor { return wrap(native.squeeze(this.handle, dim)); }
  unsqueeze(dim: number): Tensor { return wrap(native.unsqueeze(this.handle, dim)); }
  expand(...shape: number[]): Tensor { return wrap(native.expand(this.handle, shape)); }
  contiguous(): Tensor { return wrap(native.contiguous(this.handle)); }
  flatten(start = 0, end = -1): Tensor { return wrap(native.flatten(this.handle, start, end)); }
  tril(k = 0): Tensor { return wrap(native.tril(this.handle, k)); }
  triu(k = 0): Tensor { return wrap(native.triu(this.handle, k)); }
  split(size: number, dim = 0): Tensor[] { return (native.split(this.handle, size, dim) as number[]).map(wrap); }
  chunk(n: number, dim = 0): Tensor[] { return (native.chunk(this.handle, n, dim) as number[]).map(wrap); }

  // ---- indexing --------------------------------------------------------------------------
  indexSelect(dim: number, index: Tensor): Tensor { return wrap(native.indexSelect(this.handle, dim, index.handle)); }
  gather(dim: number, index: Tensor): Tensor { return wrap(native.gather(this.handle, dim, index.handle)); }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return wrap(native.scatterAdd(this.handle, dim, index.handle, src.handle)); }
  scatter(dim: number, index: Tensor, src: Tensor): Tensor { return wrap(native.scatter(this.handle, dim, index.handle, src.handle)); }
  topk(k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } { return pair(native.topk(this.handle, k, dim, largest)); }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } { return pair(native.sort(this.handle, dim, descending)); }

  // ---- conversion ----------------------------------------------------------------------
  /** A copy in another dtype and/or on another device (`"cpu"`, `"cuda"`, `"cuda:1"`). */
  to(target: DType | { dtype?: DType; device?: string }): Tensor {
    const { dtype, device } = typeof target === "string" ? { dtype: target, device: undefined } : target;
    if (device !== undefined && device !== this.device) {
      const moved = wrap(native.toDevice(this.handle, device));
      return dtype && dtype !== moved.dtype ? withTemp(moved, (m) => m.to(dtype)) : moved;
    }
    const want = dtype ?? this.dtype;
    assertDType(want);
    return wrap(native.toDtype(this.handle, DTYPE_CODES[want]));
  }
  clone(): Tensor { return unary(this, "clone"); }

  // ---- in place (keep the tensor's identity; used by caches and optimisers) ---------------
  copy_(src: Tensor): this { native.copy_(this.handle, src.handle); return this; }
  fill_(value: number): this { native.fill_(this.handle, value); return this; }
  zero_(): this { native.zero_(this.handle); return this; }
  add_(o: Tensor, alpha = 1): this { native.add_(this.handle, o.handle, alpha); return this; }
  mul_(s: number): this { native.mulScalar_(this.handle, s); return this; }
  maskedFill_(mask: Tensor, value: number): this { native.maskedFill_(this.handle, mask.handle, value); return this; }
  indexCopy_(dim: number, index: Tensor, src: Tensor): this { native.indexCopy_(this.handle, dim, index.handle, src.handle); return this; }

  // ---- autograd --------------------------------------------------------------------------
  get requiresGrad(): boolean { return native.requiresGrad(this.handle); }
  requiresGrad_(on = true): this { native.setRequiresGrad(this.handle, on); return this; }
  get isLeaf(): boolean { return native.isLeaf(this.handle); }
  retainGrad(): this { native.retainGrad(this.handle); return this; }
  detach(): Tensor { return unary(this, "detach"); }
  /** The accumulated gradient (a new handle on the same memory), or null before backward. */
  get grad(): Tensor | null {
    const h = native.grad(this.handle) as number;
    return h < 0 ? null : wrap(h);
  }
  set grad(g: Tensor | null) { native.setGrad(this.handle, g ? g.handle : -1); }
  /** Back-propagates from this tensor (a scalar, or pass `gradient`). */
  backward(gradient?: Tensor, { retainGraph = false } = {}): void {
    native.backward(this.handle, gradient ? gradient.handle : -1, retainGraph);
  }
}

function wrap(h: number): Tensor {
  return new Tensor(h);
}
export { wrap as fromHandle };

function unary(t: Tensor, op: string): Tensor {
  return wrap((native[op] as (h: number) => number)(t.handle));
}
function binary(t: Tensor, o: Tensor | number, op: string, scalarOp: string): Tensor {
  return typeof o === "number"
    ? wrap((native[scalarOp] as (h: number, s: number) => number)(t.handle, o))
    : wrap((native[op] as (a: number, b: number) => number)(t.handle, o.handle));
}
function pair(hs: number[]): { values: Tensor; indices: Tensor } {
  return { values: wrap(hs[0]!), indices: wrap(hs[1]!) };
}
function dimList(d: number | number[]): number[] {
  return typeof d === "number" ? [d] : d;
}
/** Runs fn on a temporary tensor and frees it, whatever fn does. */
export function withTemp<R>(t: Tensor, fn: (t: Tensor) => R): R {
  try {
    return fn(t);
  } finally {
    t.dispose();
  }
}

// ---- scopes ----------------------------------------------------------------------------

/** Tensors (at any depth of arrays, plain objects, Maps) found in a value. */
function collect(value: unknown, out: Set<Tensor>, seen = new Set<unknown>()): Set<Tensor> {
  if (value instanceof Tensor) out.add(value);
  else if (value && typeof value === "object" && !seen.has(value)) {
    seen.add(value);
    const children = value instanceof Map ? value.values() : Array.isArray(value) ? value : Object.values(value);
    for (const v of children) collect(v, out, seen);
  }
  return out;
}

/**
 * Runs `fn` in a scope: every tensor created inside is disposed when it returns, except the
 * tensors inside its return value (moved to the enclosing scope) and kept ones. Synchronous
 * only: an async fn would let other work's tensors land in this scope.
 */
export function tidy<R>(fn: () => R): R {
  const scope: Scope = [];
  scopes.push(scope);
  let result: R;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) if (!t.kept) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) if (!t.kept) t.dispose();
    throw new Error("tidy(fn) needs a synchronous fn; await outside and tidy the synchronous parts");
  }
  const survivors = collect(result, new Set());
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (survivors.has(t)) parent?.push(t);
    else if (!t.kept) t.dispose();
  }
  return result;
}

/** Exempts tensors from every enclosing scope's disposal. Returns its argument. */
export function keep<T extends Tensor | Tensor[]>(t: T): T {
  if (Array.isArray(t)) t.forEach((x) => x.keep());
  else t.keep();
  return t;
}

/** Disposes every tensor found in a value (arrays, objects, Maps of tensors). */
export function dispose(value: unknown): void {
  for (const t of collect(value, new Set())) t.dispose();
}

/** How many tensors the addon holds right now (for leak checks). */
export function liveTensors(): number {
  return native.liveTensors();
}
