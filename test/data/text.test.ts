import assert from "node:assert/strict";
import { test } from "node:test";
import { cleanText, itemText, normaliseWhitespace, unescapeHtml } from "../../src/data/text.js";

test("unescapeHtml decodes the named entities found in product text", () => {
  assert.equal(unescapeHtml("Home &amp; Kitchen"), "Home & Kitchen");
  assert.equal(unescapeHtml("&quot;Pro&quot; &lt;b&gt; &apos;x&apos;"), "\"Pro\" <b> 'x'");
  assert.equal(unescapeHtml("a&nbsp;b"), "a\u00a0b");
  assert.equal(unescapeHtml("Cr&egrave;me &Eacute;clat &reg; &trade; &frac12;"), "Crème Éclat ® ™ ½");
});

test("unescapeHtml decodes decimal and hex references", () => {
  assert.equal(unescapeHtml("L&#39;Oreal Paris"), "L'Oreal Paris");
  assert.equal(unescapeHtml("&#x27;&#X41;&#9733;"), "'A★");
  assert.equal(unescapeHtml("&#65288;x&#65289;"), "（x）");
});

test("numeric references 0x80–0x9F are read as Windows-1252, as browsers do", () => {
  assert.equal(unescapeHtml("Brand&#153; &#150; x"), "Brand™ – x");
});

test("unknown entities, bare ampersands and invalid code points are handled safely", () => {
  assert.equal(unescapeHtml("Tom & Jerry &bogus; &amp"), "Tom & Jerry &bogus; &amp");
  assert.equal(unescapeHtml("&#0;&#xD800;&#1114112;"), "\ufffd\ufffd\ufffd");
});

test("unescapeHtml is one pass; cleanText also undoes double escaping", () => {
  assert.equal(unescapeHtml("Kirk&amp;#39;s Soap"), "Kirk&#39;s Soap");
  assert.equal(cleanText("Kirk&amp;#39;s Soap"), "Kirk's Soap");
  assert.equal(cleanText("eForCity&amp;reg;"), "eForCity®");
});

test("whitespace is normalised: runs of spaces, TAB, NEWLINE and NBSP collapse, ends are trimmed", () => {
  assert.equal(normaliseWhitespace("  a \t b\n\nc\u00a0 d  "), "a b c d");
  assert.equal(cleanText("TheraNeem Cream \nVanilla&nbsp;&nbsp;2 oz "), "TheraNeem Cream Vanilla 2 oz");
});

test("itemText renders title, brand, categories and price on one line, leaving out what is missing", () => {
  const full = { index: 0, id: "A1", title: "Gel 1oz.", brand: "Xtreme", categories: ["Beauty", "Hair Care"], price: 19.99 };
  assert.equal(itemText(full), "Gel 1oz. | brand: Xtreme | category: Beauty > Hair Care | price: 19.99");
  assert.equal(itemText({ index: 1, id: "A2", title: "Plain", categories: [], price: 12 }), "Plain | price: 12");
  assert.equal(itemText({ index: 2, id: "B000GZES7A", title: "", categories: ["Beauty"] }), "item B000GZES7A | category: Beauty");
});

test("itemText keeps a bounded opening of the description, whatever its length", async () => {
  const { ITEM_TEXT_DESCRIPTION_WORDS } = await import("../../src/data/text.js");
  const base = { index: 0, id: "x", title: "Rose Water Toner", categories: ["Skin Care"], brand: "Aqua" };
  const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(" ");
  assert.equal(itemText(base), "Rose Water Toner | brand: Aqua | category: Skin Care");
  assert.equal(itemText({ ...base, description: "Soothing   toner\nfor dry skin" }), "Rose Water Toner | brand: Aqua | category: Skin Care | description: Soothing toner for dry skin");
  const short = itemText({ ...base, description: words(ITEM_TEXT_DESCRIPTION_WORDS) });
  assert.equal(itemText({ ...base, description: words(5000) }), short);
});
