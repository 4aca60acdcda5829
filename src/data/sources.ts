/**
 * Where the supported public datasets come from: each file's upstream GitHub repository,
 * commit and path (pinned, so the bytes never change) and its sha256. The values are those
 * recorded in /work/shared/datasets/<folder>/SOURCE.md and checked against the files there.
 * `fetchDataset` (fetch.ts) downloads them into `<cacheDir>/<folder>/`, the layout that
 * `loadDataset` reads.
 */

export interface SourceFile {
  /** File name in the local folder. */
  name: string;
  /** "owner/repo" on GitHub. */
  repo: string;
  commit: string;
  /** Path inside the repository. */
  path: string;
  sha256: string;
}

export interface DatasetSource {
  /** Canonical dataset name, as `loadDataset` takes it. */
  name: string;
  aliases: readonly string[];
  /** Local folder name under the cache or data dir. */
  folder: string;
  files: readonly SourceFile[];
  /** The terms of use in one sentence; shown when downloading. */
  terms: string;
}

const S3REC = { repo: "aHuiWang/CIKM2020-S3Rec", commit: "49a890dcb516c9ed3126564495234ea74d5cd566" };
const P5_IDS = { repo: "Wenyueh/LLM-RecSys-ID", commit: "2200ad9fef647ef755c01d6d7e5c5de3082606c5" };
// The .item file was deleted again in a later commit; this commit still has it.
const RECBOLE_SAE = { repo: "parepic/RecBole_SAE", commit: "db83146720b1d9497d8614a16a8cdaa03c7a71b6" };
const ML100K = { repo: "Vickyilango/Boltzmann_Machine", commit: "ee05160966c42d48cc5112caab217e805461db22" };

export const DATASET_SOURCES: readonly DatasetSource[] = [
  {
    name: "amazon-beauty",
    aliases: ["amazon-beauty-2014", "beauty"],
    folder: "amazon-beauty-2014",
    files: [
      { name: "Beauty.txt", ...S3REC, path: "data/Beauty.txt", sha256: "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8" },
      { name: "datamaps.json", ...P5_IDS, path: "data/beauty/datamaps.json", sha256: "715ab04838ff1ba21238475ed453a89e8c30aa6214b904d27a79e4168fc7b612" },
      { name: "Amazon_Beauty.item", ...RECBOLE_SAE, path: "dataset/Amazon_Beauty/Amazon_Beauty.item", sha256: "e56c8cbc404b0d82bc30ce9f063e06c0e93615c859c9ca9a522c669d79b74478" },
    ],
    terms: "Amazon 2014 review data (McAuley, UCSD): research use only, cite He & McAuley (WWW 2016) and McAuley et al. (SIGIR 2015); do not republish.",
  },
  {
    name: "movielens-100k",
    aliases: ["ml-100k", "movielens"],
    folder: "movielens-100k",
    files: [
      { name: "README", ...ML100K, path: "ml-100k/README", sha256: "4883b8cf340ed0059971b33f56ad3adc88a40792108ebca3d24aafc4c82e8b52" },
      { name: "u.data", ...ML100K, path: "ml-100k/u.data", sha256: "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490" },
      { name: "u.item", ...ML100K, path: "ml-100k/u.item", sha256: "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701" },
      { name: "u.user", ...ML100K, path: "ml-100k/u.user", sha256: "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c" },
      { name: "u.genre", ...ML100K, path: "ml-100k/u.genre", sha256: "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb" },
      { name: "u.occupation", ...ML100K, path: "ml-100k/u.occupation", sha256: "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d" },
      { name: "u.info", ...ML100K, path: "ml-100k/u.info", sha256: "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b" },
    ],
    terms: "MovieLens 100K (GroupLens): research use only, cite Harper & Konstan (TiiS 2015); the data may not be redistributed.",
  },
];

/** The source for a dataset name or alias (case-insensitive), or undefined. */
export function findDatasetSource(name: string): DatasetSource | undefined {
  const key = name.toLowerCase();
  return DATASET_SOURCES.find((s) => s.name === key || s.aliases.includes(key));
}

export const DEFAULT_BASE_URL = "https://raw.githubusercontent.com";

/** https://raw.githubusercontent.com/OWNER/REPO/COMMIT/PATH, with the host replaceable for tests. */
export function rawUrl(file: SourceFile, baseUrl = DEFAULT_BASE_URL): string {
  return `${baseUrl.replace(/\/+$/, "")}/${file.repo}/${file.commit}/${file.path}`;
}
