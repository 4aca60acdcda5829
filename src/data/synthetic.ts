/**
 * A deterministic synthetic beauty catalogue with planted structure, for tests, CI and demos
 * (no download, any size, known ground truth).
 *
 * What is planted, so that later stages can be checked for recovering it:
 * - a 2–3 level category tree (Hair Care > Shampoo, Skin Care > Face > Serum, …);
 * - complement pairs between leaves (shampoo → conditioner, cleanser → toner → serum …), the
 *   "domain knowledge" GR2's teacher prompt primes;
 * - brands that specialise in one or two top-level categories, with a price tier;
 * - a Zipf-like popularity over items;
 * - users who prefer a few leaf categories and brands. Each next item is, with the
 *   probabilities in `TRANSITIONS`, the current leaf's complement, another preferred leaf, or
 *   noise drawn by global popularity. No user has the same item twice (as in Amazon Beauty).
 *
 * Same options → identical output: all randomness comes from one seeded `Rng`.
 */
import { newReport } from "./report.js";
import { Rng, WeightedTable } from "../util/rng.js";
import type { Dataset, Item, PlantedStructure } from "./types.js";

export interface SyntheticOptions {
  users?: number;
  items?: number;
  seed?: number;
  /** Shortest sequence (default 5, the Amazon 5-core minimum). */
  minLen?: number;
  /** Longest sequence (default 20). Lengths are skewed towards `minLen`, like real data. */
  maxLen?: number;
  /**
   * Product lines (default 0): the chance that a complement step buys the current item's own
   * line partner (one fixed item of the complement leaf, of the same brand where there is one:
   * this shampoo's conditioner) instead of any item of that leaf. Real catalogues have this
   * item-level structure, and it is what co-purchase evidence sees and a small sequential
   * ranker partly misses (docs/benchmarks.md); with 0 the catalogue has only category-level
   * structure, which the upstream ranker already captures.
   */
  productLines?: number;
  /**
   * Words of description per item (default 0: none). Real catalogues carry long, repetitive
   * descriptions with odd characters; this gives the synthetic one such text, so tests and
   * benchmarks can check that nothing downstream slows or grows with it (`itemText` keeps a
   * bounded part). Drawn from a generator of its own: the catalogue and sequences are unchanged.
   */
  descriptionWords?: number;
}

export const SYNTHETIC_DEFAULTS = { users: 200, items: 300, seed: 42, minLen: 5, maxLen: 20, productLines: 0, descriptionWords: 0 } as const;

/**
 * Step probabilities: complement of the current leaf, a preferred leaf, popularity noise. When
 * the current leaf has no complement (or it has no items), that share goes to a preferred leaf.
 */
const TRANSITIONS = { complement: 0.45, preferred: 0.35, noise: 0.2 } as const;
/** Chance that an item is drawn from the user's preferred brands when the leaf has some. */
const BRAND_LOYALTY = 0.5;
/** Zipf exponent of item popularity. */
const POPULARITY_EXPONENT = 0.9;

type SizeKind = "bottle" | "jar" | "compact" | "nail" | "perfume" | "tool";

/** The category tree, as leaf paths; the last element is the product noun used in titles. */
const LEAVES: readonly { path: readonly string[]; sizes: SizeKind; price: number }[] = [
  { path: ["Hair Care", "Shampoo"], sizes: "bottle", price: 9 },
  { path: ["Hair Care", "Conditioner"], sizes: "bottle", price: 10 },
  { path: ["Hair Care", "Hair Mask"], sizes: "jar", price: 15 },
  { path: ["Hair Care", "Hair Oil"], sizes: "bottle", price: 14 },
  { path: ["Hair Care", "Styling", "Hair Gel"], sizes: "jar", price: 7 },
  { path: ["Hair Care", "Styling", "Hair Spray"], sizes: "bottle", price: 8 },
  { path: ["Skin Care", "Face", "Cleanser"], sizes: "bottle", price: 12 },
  { path: ["Skin Care", "Face", "Toner"], sizes: "bottle", price: 13 },
  { path: ["Skin Care", "Face", "Serum"], sizes: "jar", price: 28 },
  { path: ["Skin Care", "Face", "Moisturiser"], sizes: "jar", price: 22 },
  { path: ["Skin Care", "Face", "Sunscreen"], sizes: "bottle", price: 16 },
  { path: ["Skin Care", "Body", "Body Wash"], sizes: "bottle", price: 8 },
  { path: ["Skin Care", "Body", "Body Scrub"], sizes: "jar", price: 12 },
  { path: ["Skin Care", "Body", "Body Lotion"], sizes: "bottle", price: 11 },
  { path: ["Makeup", "Face", "Primer"], sizes: "compact", price: 18 },
  { path: ["Makeup", "Face", "Foundation"], sizes: "compact", price: 25 },
  { path: ["Makeup", "Face", "Concealer"], sizes: "compact", price: 15 },
  { path: ["Makeup", "Face", "Setting Powder"], sizes: "compact", price: 17 },
  { path: ["Makeup", "Eyes", "Eye Shadow"], sizes: "compact", price: 16 },
  { path: ["Makeup", "Eyes", "Eyeliner"], sizes: "compact", price: 9 },
  { path: ["Makeup", "Eyes", "Mascara"], sizes: "compact", price: 12 },
  { path: ["Makeup", "Eyes", "Makeup Remover"], sizes: "bottle", price: 8 },
  { path: ["Makeup", "Lips", "Lip Liner"], sizes: "compact", price: 8 },
  { path: ["Makeup", "Lips", "Lipstick"], sizes: "compact", price: 14 },
  { path: ["Makeup", "Lips", "Lip Balm"], sizes: "compact", price: 5 },
  { path: ["Nails", "Nail Polish"], sizes: "nail", price: 8 },
  { path: ["Nails", "Top Coat"], sizes: "nail", price: 7 },
  { path: ["Nails", "Nail Polish Remover"], sizes: "bottle", price: 5 },
  { path: ["Fragrance", "Eau de Parfum"], sizes: "perfume", price: 55 },
  { path: ["Fragrance", "Body Mist"], sizes: "perfume", price: 18 },
  { path: ["Tools", "Makeup Brush"], sizes: "tool", price: 12 },
  { path: ["Tools", "Brush Cleaner"], sizes: "bottle", price: 9 },
];

/** Complement pairs by product noun: what one typically buys next. */
const COMPLEMENTS: Readonly<Record<string, string>> = {
  Shampoo: "Conditioner", Conditioner: "Hair Mask", "Hair Mask": "Hair Oil", "Hair Gel": "Hair Spray",
  Cleanser: "Toner", Toner: "Serum", Serum: "Moisturiser", Moisturiser: "Sunscreen",
  "Body Wash": "Body Lotion", "Body Scrub": "Body Lotion",
  Primer: "Foundation", Foundation: "Concealer", Concealer: "Setting Powder",
  "Eye Shadow": "Eyeliner", Eyeliner: "Mascara", Mascara: "Makeup Remover",
  "Lip Liner": "Lipstick", Lipstick: "Lip Balm",
  "Nail Polish": "Top Coat", "Top Coat": "Nail Polish Remover",
  "Eau de Parfum": "Body Mist", "Makeup Brush": "Brush Cleaner",
};

const SIZES: Readonly<Record<SizeKind, readonly string[]>> = {
  bottle: ["100 ml", "200 ml", "250 ml", "400 ml", "500 ml"],
  jar: ["30 ml", "50 ml", "75 ml", "150 ml"],
  compact: ["3 g", "5 g", "10 g", "30 ml"],
  nail: ["10 ml", "15 ml"],
  perfume: ["30 ml", "50 ml", "100 ml"],
  tool: ["1 pc", "Set of 5", "Set of 12"],
};

const ADJECTIVES = [
  "Hydrating", "Gentle", "Volumising", "Nourishing", "Matte", "Radiant", "Daily", "Ultra", "Soothing", "Clarifying",
  "Long-Lasting", "Lightweight", "Intense", "Repairing", "Pure", "Silky", "Fresh", "Velvet", "Organic", "Sensitive",
];

const SYLLABLES = ["lu", "mi", "ra", "ve", "no", "sa", "ko", "el", "ta", "ri", "an", "zo", "be", "ly", "ca", "do", "fi", "ne", "or", "qui"];

const pathName = (path: readonly string[]) => path.join(" > ");

/** Per leaf index, the index of its complement leaf, or -1. */
const COMPLEMENT_LEAF: readonly number[] = LEAVES.map((leaf) => LEAVES.findIndex((l) => l.path.at(-1) === COMPLEMENTS[leaf.path.at(-1)!]));

const TOP_CATEGORIES: readonly string[] = [...new Set(LEAVES.map((l) => l.path[0]!))];

interface Brand {
  name: string;
  /** Top-level categories the brand sells in. */
  tops: string[];
  /** Price multiplier (budget … luxury). */
  tier: number;
}

export function generateSynthetic(options: SyntheticOptions = {}): Dataset {
  const d = SYNTHETIC_DEFAULTS;
  // Field by field, so that an explicit `undefined` (e.g. an absent CLI flag) keeps the default.
  const o = {
    users: options.users ?? d.users,
    items: options.items ?? d.items,
    seed: options.seed ?? d.seed,
    minLen: options.minLen ?? d.minLen,
    maxLen: options.maxLen ?? d.maxLen,
    productLines: options.productLines ?? d.productLines,
    descriptionWords: options.descriptionWords ?? d.descriptionWords,
  };
  checkOptions(o);
  const rng = new Rng(o.seed);

  const brands = makeBrands(rng, Math.min(60, Math.max(TOP_CATEGORIES.length, Math.round(o.items / 25))));
  const { items, leafOf } = makeItems(rng, o.items, brands);
  if (o.descriptionWords > 0) describeItems(new Rng(o.seed ^ 0xd35c), items, o.descriptionWords);
  const sampler = new ItemSampler(rng, items, leafOf);
  // Drawn only when asked for, so catalogues without product lines stay as they were.
  const partner = o.productLines > 0 ? linePartners(rng, items, leafOf) : null;
  const step: Step = { productLines: o.productLines, partner };

  const complements: Record<string, string> = {};
  COMPLEMENT_LEAF.forEach((target, leaf) => {
    if (target >= 0) complements[pathName(LEAVES[leaf]!.path)] = pathName(LEAVES[target]!.path);
  });

  const userIds: string[] = [];
  const sequences: number[][] = [];
  const userPreferences: PlantedStructure["userPreferences"] = [];
  for (let u = 0; u < o.users; u++) {
    const prefs = makePreferences(rng, sampler, brands);
    userIds.push(`user-${u + 1}`);
    sequences.push(makeSequence(rng, sampler, prefs, sequenceLength(rng, o.minLen, Math.min(o.maxLen, o.items)), step));
    userPreferences.push({ categories: prefs.leaves.map((l) => pathName(LEAVES[l]!.path)), brands: prefs.brands });
  }

  const report = newReport();
  report.notes.push(`synthetic catalogue, seed ${o.seed}`);
  return {
    catalogue: { name: "synthetic", items },
    interactions: { userIds, sequences },
    report,
    planted: {
      itemCategory: leafOf.map((l) => pathName(LEAVES[l]!.path)),
      complements,
      userPreferences,
      transitions: { ...TRANSITIONS },
    },
  };
}

function checkOptions(o: Required<SyntheticOptions>): void {
  const positiveInt = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`synthetic: ${name} must be a positive integer, got ${v}`);
  };
  positiveInt("users", o.users);
  positiveInt("items", o.items);
  positiveInt("minLen", o.minLen);
  positiveInt("maxLen", o.maxLen);
  if (!Number.isInteger(o.seed)) throw new RangeError(`synthetic: seed must be an integer, got ${o.seed}`);
  if (!(Number.isInteger(o.descriptionWords) && o.descriptionWords >= 0)) throw new RangeError(`synthetic: descriptionWords must be an integer ≥ 0, got ${o.descriptionWords}`);
  if (!(o.productLines >= 0 && o.productLines <= 1)) throw new RangeError(`synthetic: productLines must be a probability in [0, 1], got ${o.productLines}`);
  if (o.minLen > o.maxLen) throw new RangeError(`synthetic: minLen ${o.minLen} is above maxLen ${o.maxLen}`);
  if (o.minLen > o.items) throw new RangeError(`synthetic: minLen ${o.minLen} is above the number of items ${o.items} (no repeats per user)`);
}

function makeBrands(rng: Rng, count: number): Brand[] {
  const tops = TOP_CATEGORIES;
  const names = new Set<string>();
  while (names.size < count) {
    const syllables = Array.from({ length: rng.between(2, 3) }, () => rng.pick(SYLLABLES)).join("");
    names.add(syllables[0]!.toUpperCase() + syllables.slice(1));
  }
  return [...names].map((name, i) => ({
    name,
    // Every top category gets at least one specialist brand (i < tops.length), so no leaf lacks brands.
    tops: i < tops.length ? [tops[i]!] : rng.sample(tops, rng.between(1, 2)),
    tier: [0.6, 1, 1.6, 2.5][rng.int(4)]!,
  }));
}

function makeItems(rng: Rng, count: number, brands: Brand[]): { items: Item[]; leafOf: number[] } {
  // Leaves differ in popularity; the first LEAVES.length items cover every leaf once.
  const leafTable = new WeightedTable(LEAVES.map((_, i) => i), LEAVES.map(() => 0.5 + rng.next() * 1.5));
  const items: Item[] = [];
  const leafOf: number[] = [];
  for (let i = 0; i < count; i++) {
    const leaf = i < LEAVES.length ? i : leafTable.draw(rng);
    const spec = LEAVES[leaf]!;
    const sellers = brands.filter((b) => b.tops.includes(spec.path[0]!));
    const brand = rng.pick(sellers);
    const noun = spec.path.at(-1)!;
    const price = Math.max(1, Math.round(spec.price * brand.tier * (0.8 + rng.next() * 0.45))) - 0.01;
    items.push({
      index: i,
      id: `item-${i + 1}`,
      title: `${brand.name} ${rng.pick(ADJECTIVES)} ${noun} ${rng.pick(SIZES[spec.sizes])}`,
      categories: [...spec.path],
      brand: brand.name,
      price: Math.round(price * 100) / 100,
    });
    leafOf.push(leaf);
  }
  return { items, leafOf };
}

/**
 * Marketing copy of `words` words per item: its own title and category words among filler,
 * repeated phrases, HTML entities and non-ASCII characters, as scraped descriptions have.
 */
function describeItems(rng: Rng, items: Item[], words: number): void {
  const FILLER = ["with", "for", "and", "your", "skin", "hair", "formula", "enriched", "vitamin", "E", "&amp;", "100%", "dermatologist-tested", "crème", "naturel", "™", "free", "from", "parabens", "—", "ideal", "daily", "use", "<b>new</b>", "size:", "ml", "🌿"];
  for (const item of items) {
    const own = [...item.title.split(" "), ...item.categories.flatMap((c) => c.split(" "))];
    const out: string[] = [];
    while (out.length < words) {
      const r = rng.next();
      if (r < 0.05 && out.length >= 8) out.push(...out.slice(0, 8)); // repeated sentences
      else out.push(r < 0.35 ? rng.pick(own) : r < 0.9 ? rng.pick(FILLER) : rng.pick(SYLLABLES) + rng.pick(SYLLABLES));
    }
    item.description = out.slice(0, words).join(" ");
  }
}

/** Draws items by popularity: globally, within a leaf, or within a leaf and brand. */
class ItemSampler {
  readonly global: WeightedTable<number>;
  private readonly byLeaf = new Map<number, WeightedTable<number>>();
  private readonly byLeafBrand = new Map<string, WeightedTable<number>>();

  constructor(rng: Rng, readonly items: readonly Item[], readonly leafOf: readonly number[]) {
    // Zipf popularity over a random order of the items, so popular items spread across leaves.
    const popularity = new Array<number>(items.length);
    rng.shuffle(items.map((_, i) => i)).forEach((item, rank) => (popularity[item] = 1 / (rank + 1) ** POPULARITY_EXPONENT));
    const table = (members: number[]) => new WeightedTable(members, members.map((i) => popularity[i]!));
    const all = items.map((_, i) => i);
    this.global = table(all);
    for (const [leaf, members] of groupBy(all, (i) => String(leafOf[i]))) this.byLeaf.set(Number(leaf), table(members));
    for (const [key, members] of groupBy(all, (i) => `${leafOf[i]}|${items[i]!.brand}`)) this.byLeafBrand.set(key, table(members));
  }

  /** Leaves that have at least one item (small catalogues do not fill all of them). */
  get leaves(): number[] {
    return [...this.byLeaf.keys()];
  }

  hasLeaf(leaf: number): boolean {
    return this.byLeaf.has(leaf);
  }

  fromLeaf(rng: Rng, leaf: number, brands: readonly string[]): number {
    const branded = brands.map((b) => this.byLeafBrand.get(`${leaf}|${b}`)).filter((t) => t !== undefined);
    if (branded.length > 0 && rng.chance(BRAND_LOYALTY)) return rng.pick(branded).draw(rng);
    return this.byLeaf.get(leaf)!.draw(rng);
  }
}

function groupBy<T>(values: readonly T[], key: (v: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const v of values) {
    const k = key(v);
    const group = groups.get(k);
    if (group) group.push(v);
    else groups.set(k, [v]);
  }
  return groups;
}

interface Preferences {
  leaves: number[];
  brands: string[];
}

/** 1–2 favourite top categories, 2–4 leaves inside them, 1–2 brands selling there. */
function makePreferences(rng: Rng, sampler: ItemSampler, brands: readonly Brand[]): Preferences {
  const available = sampler.leaves;
  const tops = rng.sample([...new Set(available.map((l) => LEAVES[l]!.path[0]!))], rng.between(1, 2));
  const candidates = available.filter((l) => tops.includes(LEAVES[l]!.path[0]!));
  const sellers = brands.filter((b) => b.tops.some((t) => tops.includes(t))).map((b) => b.name);
  return { leaves: rng.sample(candidates, rng.between(2, 4)), brands: rng.sample(sellers, rng.between(1, 2)) };
}

/** Lengths skewed towards `minLen` (a geometric tail), like the 5-core datasets. */
function sequenceLength(rng: Rng, minLen: number, maxLen: number): number {
  const meanExtra = Math.max(1, (maxLen - minLen) / 4);
  return Math.min(maxLen, minLen + Math.floor(-Math.log(1 - rng.next()) * meanExtra));
}

/** How a step may follow a product line: `partner[i]` is item i's partner in its complement leaf, or -1. */
interface Step {
  productLines: number;
  partner: Int32Array | null;
}

/** Each item's line partner: an item of its complement leaf, of the same brand when one exists. */
function linePartners(rng: Rng, items: readonly Item[], leafOf: readonly number[]): Int32Array {
  const byLeaf = groupBy(items.map((_, i) => i), (i) => String(leafOf[i]));
  return Int32Array.from(items, (item, i) => {
    const target = COMPLEMENT_LEAF[leafOf[i]!]!;
    const pool = target >= 0 ? byLeaf.get(String(target)) : undefined;
    if (!pool) return -1;
    const sameBrand = pool.filter((j) => items[j]!.brand === item.brand);
    return rng.pick(sameBrand.length > 0 ? sameBrand : pool);
  });
}

function makeSequence(rng: Rng, sampler: ItemSampler, prefs: Preferences, length: number, step: Step): number[] {
  const sequence: number[] = [];
  const seen = new Set<number>();
  while (sequence.length < length) {
    let item: number | undefined;
    for (let attempt = 0; attempt < 10 && (item === undefined || seen.has(item)); attempt++) {
      item = nextItem(rng, sampler, prefs, sequence.at(-1), step);
    }
    // Rare in practice (tiny catalogues): fall back to the first item the user does not have yet.
    if (item === undefined || seen.has(item)) item = sampler.global.values.find((i) => !seen.has(i))!;
    sequence.push(item);
    seen.add(item);
  }
  return sequence;
}

/** One step: the first item comes from a preferred leaf; later ones follow `TRANSITIONS`. */
function nextItem(rng: Rng, sampler: ItemSampler, prefs: Preferences, current: number | undefined, step: Step): number {
  const r = rng.next();
  const leaf = current === undefined ? undefined : sampler.leafOf[current]!;
  const complement = leaf === undefined ? -1 : COMPLEMENT_LEAF[leaf]!;
  if (r < TRANSITIONS.complement && complement >= 0 && sampler.hasLeaf(complement)) {
    const partner = current === undefined || !step.partner ? -1 : step.partner[current]!;
    if (partner >= 0 && rng.chance(step.productLines)) return partner;
    return sampler.fromLeaf(rng, complement, prefs.brands);
  }
  if (leaf === undefined || r < TRANSITIONS.complement + TRANSITIONS.preferred) {
    return sampler.fromLeaf(rng, rng.pick(prefs.leaves), prefs.brands);
  }
  return sampler.global.draw(rng);
}
