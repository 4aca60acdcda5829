import assert from "node:assert/strict";
import { test } from "node:test";
import { parseTsv } from "../../src/data/tsv.js";
import { assertDataError } from "./helpers.js";

const parse = (text: string, delimiter?: string) => parseTsv(text, { file: "t.tsv", delimiter });

test("plain records with their line numbers; a final newline adds no record", () => {
  assert.deepEqual(parse("a\tb\nc\td\n"), [
    { line: 1, fields: ["a", "b"] },
    { line: 2, fields: ["c", "d"] },
  ]);
  assert.deepEqual(parse("a\tb"), [{ line: 1, fields: ["a", "b"] }]);
});

test("a TAB inside quotes stays in the field", () => {
  assert.deepEqual(parse('x\t"left\tright"\ty\n').map((r) => r.fields), [["x", "left\tright", "y"]]);
});

test("a NEWLINE inside quotes stays in the field and later records keep their true line numbers", () => {
  const records = parse('id\ttitle\n1\t"two\nlines"\n2\tnext\n');
  assert.deepEqual(records, [
    { line: 1, fields: ["id", "title"] },
    { line: 2, fields: ["1", "two\nlines"] },
    { line: 4, fields: ["2", "next"] },
  ]);
});

test('"" inside quotes is one quote; a quote inside an unquoted field is literal', () => {
  assert.deepEqual(parse(`"'Beauty', ""Women's"""\t5 "inch"\n`)[0]!.fields, [`'Beauty', "Women's"`, '5 "inch"']);
  assert.deepEqual(parse('""\t""""\n')[0]!.fields, ["", '"']);
});

test("empty fields, a trailing delimiter, CRLF line endings and blank lines", () => {
  assert.deepEqual(parse("a\t\tb\t\r\n\r\n\"q\"\r\nlast").map((r) => r.fields), [["a", "", "b", ""], [""], ["q"], ["last"]]);
});

test("another delimiter can be chosen", () => {
  assert.deepEqual(parse('1|"a|b"|c\n', "|")[0]!.fields, ["1", "a|b", "c"]);
});

test("an unterminated quote names the line where the quote opened", () => {
  assertDataError(() => parse('h\n1\t"open\nstill open\n'), "t.tsv", 2, /unterminated quoted field/);
});

test("text after a closing quote is an error naming its line", () => {
  assertDataError(() => parse('h\n1\t"a\nb"x\tz\n'), "t.tsv", 3, /expected a delimiter or the end of the line after a closing quote/);
});
