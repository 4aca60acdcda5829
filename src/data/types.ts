/**
 * The data model every stage shares. A dataset reader turns its upstream files into a
 * `Catalogue` (items with text) plus `Interactions` (one time-ordered item sequence per user);
 * the splitter turns those into leave-one-out `Split`s. Ids inside GR2 are dense 0-based
 * integers; the upstream ids are kept as strings for reports and for users' own joins.
 */

/** One item's metadata, already cleaned (HTML entities unescaped, whitespace normalised). */
export interface Item {
  /** Dense 0-based index used everywhere inside GR2. */
  index: number;
  /** The id in the upstream files (ASIN, MovieLens id, the user's own id). */
  id: string;
  title: string;
  /** Category path, most general first (e.g. ["Beauty", "Hair Care", "Shampoos"]). */
  categories: string[];
  brand?: string;
  price?: number;
  description?: string;
}

export interface Catalogue {
  /** Short dataset name, e.g. "amazon-beauty", "movielens-100k", "synthetic". */
  name: string;
  items: Item[];
}

/** Each user's interactions in time order, as dense item indices. */
export interface Interactions {
  /** Upstream user ids, parallel to `sequences`. */
  userIds: string[];
  sequences: number[][];
}

export interface Dataset {
  catalogue: Catalogue;
  interactions: Interactions;
  /** What the reader skipped or repaired, with counts, so nothing is dropped silently. */
  report: ReadReport;
  /** Only for generated data: the structure the generator planted, to check methods recover it. */
  planted?: PlantedStructure;
}

/**
 * The ground truth of a synthetic catalogue (src/data/synthetic.ts). Categories are named by
 * their full path, e.g. "Hair Care > Shampoo" (= `item.categories.join(" > ")`).
 */
export interface PlantedStructure {
  /** Per item index, its leaf category path. */
  itemCategory: string[];
  /** Leaf category path → the leaf that complements it (shampoo → conditioner). */
  complements: Record<string, string>;
  /** Per user index, the leaf categories and the brands the user prefers. */
  userPreferences: { categories: string[]; brands: string[] }[];
  /** Probabilities of each kind of step in the generated sequences (they sum to 1). */
  transitions: { complement: number; preferred: number; noise: number };
}

export interface ReadReport {
  files: string[];
  /** e.g. { "ratings below threshold": 1203 }; empty when nothing was skipped. */
  skipped: Record<string, number>;
  notes: string[];
}

/** One leave-one-out example: the history the model sees and the item it should rank first. */
export interface Example {
  user: number;
  history: number[];
  target: number;
}

/**
 * Time-ordered leave-one-out (docs/architecture.md, Protocol): test = last, valid =
 * second-to-last, train = rest.
 */
export interface Split {
  /** Per user, the training prefix s[0..n-3] (what upstream rankers may learn from). */
  train: number[][];
  valid: Example[];
  test: Example[];
  /** Users left out because their sequence was too short (only with `skipShortUsers`). */
  skippedUsers?: number[];
}
