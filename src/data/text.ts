/**
 * Item-text cleaning. Amazon metadata is raw HTML-escaped text (`L&#39;Oreal Paris`,
 * `Home &amp; Kitchen`, `&#9733;`), and titles carry stray tabs, newlines and runs of spaces.
 * Everything shown to an embedding model or an LLM goes through `cleanText` first, so that the
 * same product never appears under two spellings.
 */
import type { Item } from "./types.js";

/**
 * Named entities: the full Latin-1 set (HTML 4 `&nbsp;` … `&yuml;`) plus the typographic and
 * symbol entities that occur in product text. Unknown names are left as they are, the way
 * browsers leave them.
 */
const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: "&", lt: "<", gt: ">", quot: '"', apos: "'",
  nbsp: "\u00a0", iexcl: "¡", cent: "¢", pound: "£", curren: "¤", yen: "¥", brvbar: "¦", sect: "§",
  uml: "¨", copy: "©", ordf: "ª", laquo: "«", not: "¬", shy: "\u00ad", reg: "®", macr: "¯",
  deg: "°", plusmn: "±", sup2: "²", sup3: "³", acute: "´", micro: "µ", para: "¶", middot: "·",
  cedil: "¸", sup1: "¹", ordm: "º", raquo: "»", frac14: "¼", frac12: "½", frac34: "¾", iquest: "¿",
  Agrave: "À", Aacute: "Á", Acirc: "Â", Atilde: "Ã", Auml: "Ä", Aring: "Å", AElig: "Æ", Ccedil: "Ç",
  Egrave: "È", Eacute: "É", Ecirc: "Ê", Euml: "Ë", Igrave: "Ì", Iacute: "Í", Icirc: "Î", Iuml: "Ï",
  ETH: "Ð", Ntilde: "Ñ", Ograve: "Ò", Oacute: "Ó", Ocirc: "Ô", Otilde: "Õ", Ouml: "Ö", times: "×",
  Oslash: "Ø", Ugrave: "Ù", Uacute: "Ú", Ucirc: "Û", Uuml: "Ü", Yacute: "Ý", THORN: "Þ", szlig: "ß",
  agrave: "à", aacute: "á", acirc: "â", atilde: "ã", auml: "ä", aring: "å", aelig: "æ", ccedil: "ç",
  egrave: "è", eacute: "é", ecirc: "ê", euml: "ë", igrave: "ì", iacute: "í", icirc: "î", iuml: "ï",
  eth: "ð", ntilde: "ñ", ograve: "ò", oacute: "ó", ocirc: "ô", otilde: "õ", ouml: "ö", divide: "÷",
  oslash: "ø", ugrave: "ù", uacute: "ú", ucirc: "û", uuml: "ü", yacute: "ý", thorn: "þ", yuml: "ÿ",
  OElig: "Œ", oelig: "œ", Scaron: "Š", scaron: "š", Yuml: "Ÿ", fnof: "ƒ", circ: "ˆ", tilde: "˜",
  ensp: "\u2002", emsp: "\u2003", thinsp: "\u2009", zwnj: "\u200c", zwj: "\u200d", lrm: "\u200e", rlm: "\u200f",
  ndash: "–", mdash: "—", lsquo: "‘", rsquo: "’", sbquo: "‚", ldquo: "“", rdquo: "”", bdquo: "„",
  dagger: "†", Dagger: "‡", bull: "•", hellip: "…", permil: "‰", prime: "′", Prime: "″",
  lsaquo: "‹", rsaquo: "›", euro: "€", trade: "™", larr: "←", uarr: "↑", rarr: "→", darr: "↓",
  harr: "↔", minus: "−", infin: "∞", ne: "≠", le: "≤", ge: "≥", asymp: "≈", spades: "♠",
  clubs: "♣", hearts: "♥", diams: "♦", loz: "◊", star: "☆",
};

/**
 * HTML 5 decodes numeric references 0x80–0x9F as Windows-1252, because that is what the
 * authors meant (`&#153;` is ™ in Amazon titles, not a C1 control character).
 */
const CP1252_C1: Readonly<Record<number, number>> = {
  0x80: 0x20ac, 0x82: 0x201a, 0x83: 0x0192, 0x84: 0x201e, 0x85: 0x2026, 0x86: 0x2020, 0x87: 0x2021,
  0x88: 0x02c6, 0x89: 0x2030, 0x8a: 0x0160, 0x8b: 0x2039, 0x8c: 0x0152, 0x8e: 0x017d, 0x91: 0x2018,
  0x92: 0x2019, 0x93: 0x201c, 0x94: 0x201d, 0x95: 0x2022, 0x96: 0x2013, 0x97: 0x2014, 0x98: 0x02dc,
  0x99: 0x2122, 0x9a: 0x0161, 0x9b: 0x203a, 0x9c: 0x0153, 0x9e: 0x017e, 0x9f: 0x0178,
};

const ENTITY = /&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]{1,31}));/g;

function decodeCodePoint(code: number): string {
  const mapped = CP1252_C1[code] ?? code;
  const invalid = mapped === 0 || mapped > 0x10ffff || (mapped >= 0xd800 && mapped <= 0xdfff);
  return String.fromCodePoint(invalid ? 0xfffd : mapped);
}

/** Decodes named (`&amp;`), decimal (`&#39;`) and hex (`&#x27;`) character references, once. */
export function unescapeHtml(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(ENTITY, (whole, dec: string | undefined, hex: string | undefined, name: string | undefined) => {
    if (dec !== undefined) return decodeCodePoint(Number.parseInt(dec, 10));
    if (hex !== undefined) return decodeCodePoint(Number.parseInt(hex, 16));
    return NAMED_ENTITIES[name!] ?? whole;
  });
}

/** Collapses every run of whitespace (incl. TAB, NEWLINE, NBSP) to one space and trims. */
export function normaliseWhitespace(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/**
 * The cleaning every displayed string goes through: unescape first (`&nbsp;` is whitespace).
 * A few Amazon brands are escaped twice (`Kirk&amp;#39;s Soap`), so unescaping repeats while it
 * still changes something, at most three times (a literal "&amp;amp;" is not product text).
 */
export function cleanText(text: string): string {
  let current = text;
  for (let pass = 0; pass < 3; pass++) {
    const next = unescapeHtml(current);
    if (next === current) break;
    current = next;
  }
  return normaliseWhitespace(current);
}

/**
 * One line describing an item for embeddings and prompts, e.g.
 * `Xtreme Brite Brightening Gel 1oz. | brand: Xtreme Brite | category: Beauty > Hair Care | price: 19.99`.
 * Missing parts are left out; an item without a title is named by its id so that the line is
 * never empty.
 */
export function itemText(item: Item): string {
  const parts = [item.title || `item ${item.id}`];
  if (item.brand) parts.push(`brand: ${item.brand}`);
  if (item.categories.length > 0) parts.push(`category: ${item.categories.join(" > ")}`);
  if (item.price !== undefined) parts.push(`price: ${formatPrice(item.price)}`);
  if (item.description) parts.push(`description: ${firstWords(item.description, ITEM_TEXT_DESCRIPTION_WORDS)}`);
  return parts.join(" | ");
}

/**
 * Description words an item text keeps. Scraped descriptions run to thousands of words; a
 * bounded opening keeps what distinguishes the item (it usually restates the title and the
 * product type) while every consumer of item texts (SID embeddings, the tokenizer, mid-training
 * captions) costs the same on a catalogue with long descriptions as on one without.
 */
export const ITEM_TEXT_DESCRIPTION_WORDS = 24;

/** The first `n` whitespace-separated words of `text`. */
export function firstWords(text: string, n: number): string {
  const words = text.split(/\s+/).filter(Boolean);
  return words.length <= n ? words.join(" ") : words.slice(0, n).join(" ");
}

/** Two decimals for prices with cents, none for whole numbers (12 rather than 12.00). */
function formatPrice(price: number): string {
  return Number.isInteger(price) ? String(price) : price.toFixed(2);
}

/** The category key used everywhere in prompts and evidence: the full path, "" when unknown. */
export function categoryKey(item: Pick<Item, "categories">): string {
  return item.categories.join(" > ");
}
