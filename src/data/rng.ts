/**
 * The seeded generator and weighted table now live in src/util/rng.ts (one implementation for
 * the whole project); this re-export keeps `../data/rng.js` imports working. New code should
 * import from src/util/rng.ts.
 */
export { Rng, WeightedTable } from "../util/rng.js";
