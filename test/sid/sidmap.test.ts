import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  SidMap, formatSid, parseSid, sidVocabulary, codeToken, writeSidMap, readSidMap, sidMapFromDocument,
} from "../../src/sid/sidmap.js";
import { codeTable } from "../../src/sid/quantiser.js";
import { tempDir } from "./helpers.js";

const SID = "<|sid_begin|><s_a_97><s_b_168><s_c_137><s_d_135><|sid_end|>";

function smallMap(): SidMap {
  const t = codeTable(3, 2, 4);
  t.codes.set([0, 1, 3, 2, 0, 0]);
  return new SidMap(["A", "B", "C"], t, "rqkmeans", { natural_uniqueness: 1 });
}

test("SID strings: the paper's format, parsed back strictly", () => {
  assert.equal(formatSid([97, 168, 137, 135]), SID);
  assert.deepEqual(parseSid(SID), [97, 168, 137, 135]);
  assert.deepEqual(parseSid(`  ${SID}\n`, 4, 256), [97, 168, 137, 135]);
  assert.equal(codeToken(25, 3), "<s_z_3>");
  assert.throws(() => codeToken(26, 0), /level 26 out of range/);
});

test("malformed SIDs are rejected with the reason", () => {
  assert.throws(() => parseSid("<s_a_1><|sid_end|>"), /does not start with <\|sid_begin\|>/);
  assert.throws(() => parseSid("<|sid_begin|><s_a_1>"), /does not end with <\|sid_end\|>/);
  assert.throws(() => parseSid("<|sid_begin|><s_b_1><|sid_end|>"), /level 0 should be "a", found "b"/);
  assert.throws(() => parseSid("<|sid_begin|><s_a_1> <s_b_2><|sid_end|>"), /unexpected text at offset 7/);
  assert.throws(() => parseSid("<|sid_begin|><s_a_300><|sid_end|>", 1, 256), /code 300 at level a is ≥ codebook size 256/);
  assert.throws(() => parseSid("<|sid_begin|><s_a_3><|sid_end|>", 2), /1 levels, expected 2/);
  assert.throws(() => parseSid("<|sid_begin|><|sid_end|>"), /no code tokens/);
});

test("the SID vocabulary has 2 + levels × K tokens", () => {
  const v = sidVocabulary(4, 256);
  assert.equal(v.length, 2 + 1024);
  assert.equal(new Set(v).size, v.length);
  assert.deepEqual(v.slice(0, 3), ["<|sid_begin|>", "<|sid_end|>", "<s_a_0>"]);
});

test("SidMap looks items up by codes and by SID string, and refuses non-bijections", () => {
  const map = smallMap();
  assert.equal(map.sidOf(1), "<|sid_begin|><s_a_3><s_b_2><|sid_end|>");
  assert.equal(map.itemOfCodes([3, 2]), 1);
  assert.equal(map.itemOfCodes([3, 3]), undefined);
  assert.equal(map.itemOfCodes([3]), undefined);
  assert.equal(map.itemOfSid("<|sid_begin|><s_a_0><s_b_0><|sid_end|>"), 2);
  const dup = codeTable(2, 1, 4);
  assert.throws(() => new SidMap(["X", "Y"], dup, "m"), /not a bijection: items "X" and "Y" share/);
});

test("writeSidMap/readSidMap round-trip atomically, in the documented format", async () => {
  const dir = tempDir();
  const path = join(dir, "sid_map.json");
  await writeSidMap(path, smallMap());
  assert.deepEqual(readdirSync(dir), ["sid_map.json"], "no temporary file left behind");
  const doc = JSON.parse(readFileSync(path, "utf8"));
  assert.equal(doc.format, "gr2.sid_map");
  assert.equal(doc.levels, 2);
  assert.equal(doc.codebook_size, 4);
  assert.equal(doc.method, "rqkmeans");
  assert.equal(doc.natural_uniqueness, 1);
  assert.deepEqual(doc.items[1], { id: "B", codes: [3, 2], sid: "<|sid_begin|><s_a_3><s_b_2><|sid_end|>" });
  const back = await readSidMap(path);
  assert.deepEqual(back.ids, ["A", "B", "C"]);
  assert.deepEqual(Array.from(back.codes.codes), [0, 1, 3, 2, 0, 0]);
  assert.equal(back.extra.natural_uniqueness, 1);
});

test("readSidMap names the file and the problem", async () => {
  const dir = tempDir();
  const good = smallMap().toDocument();
  const cases: [unknown, RegExp][] = [
    [{ ...good, format: "other" }, /"format" is "other", expected "gr2.sid_map"/],
    [{ ...good, version: 9 }, /unsupported version 9/],
    [{ ...good, levels: 0 }, /"levels" must be an integer in \[1, 26\]/],
    [{ ...good, items: "x" }, /"items" must be an array/],
    [{ ...good, items: [{ id: "A", codes: [0, 9] }] }, /items\[0\] \("A"\): code 9 at level 1 is not in \[0, 4\)/],
    [{ ...good, items: [{ id: "A", codes: [0] }] }, /"codes" must be an array of 2 integers/],
    [{ ...good, items: [{ id: "A", codes: [0, 1] }, { id: "A", codes: [0, 2] }] }, /items\[1\]: duplicate id "A"/],
    [{ ...good, items: [{ id: "A", codes: [0, 1] }, { id: "B", codes: [0, 1] }] }, /not a bijection/],
    [{ ...good, items: [{ id: "A", codes: [0, 1], sid: "<|sid_begin|><s_a_1><s_b_1><|sid_end|>" }] }, /does not match codes \[0, 1\]/],
  ];
  for (const [doc, expected] of cases) {
    const p = join(dir, "bad.json");
    writeFileSync(p, JSON.stringify(doc));
    await assert.rejects(readSidMap(p), (e: Error) => e.message.startsWith(`${p}: invalid SID map: `) && expected.test(e.message));
  }
  writeFileSync(join(dir, "broken.json"), "{");
  await assert.rejects(readSidMap(join(dir, "broken.json")), /broken\.json: not valid JSON/);
  await assert.rejects(readSidMap(join(dir, "missing.json")), /missing\.json: cannot read SID map \(ENOENT\)/);
  assert.throws(() => sidMapFromDocument(null as never, "x"), /x: invalid SID map: not a JSON object/);
});
