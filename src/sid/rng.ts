/**
 * Seeded pseudo-random numbers for everything in src/sid: the shared generator and hashes of
 * src/util/rng.ts, with the SID seeding fixed here once.
 *
 * Every randomised step (SVD test matrices, k-means++ seeding, the random last level) takes a
 * seed so that a SID build is reproducible bit for bit: the SID map is an artefact that later
 * stages (prompts, checkpoints) depend on, and a silent reshuffle of codes would invalidate them.
 * That is why SID code seeds with "murmur" (what every existing build was made with), not the
 * shared default.
 */
import { Rng as SeededRng } from "../util/rng.js";

export { hashInt, mix32 } from "../util/rng.js";

/** The shared `Rng`, seeded the SID way. */
export class Rng extends SeededRng {
  constructor(seed: number) {
    super(seed, "murmur");
  }
}
