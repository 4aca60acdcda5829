/**
 * A TSV reader with CSV-style `"` quoting, as RecBole atomic files use it. Naive splitting on
 * `\n` and `\t` breaks on real data: three Amazon Beauty titles contain a TAB or a NEWLINE
 * inside quotes. Rules (those of Python's csv module with `delimiter="\t"`):
 *
 * - A field that *starts* with `"` is quoted: it runs to the next lone `"`, may contain the
 *   delimiter and newlines, and `""` inside it stands for one `"`. After the closing quote comes
 *   the delimiter, the end of the line or the end of the file; anything else is an error.
 * - A `"` anywhere else in a field is an ordinary character.
 * - Records end at `\n` or `\r\n`. A final newline does not start an empty record.
 * - An empty line is returned as a record with one empty field, so callers can count it.
 *
 * Each record carries the 1-based line on which it starts, for error messages.
 */
import { DataError } from "./errors.js";
import { countNewlines } from "./files.js";

export interface TsvRecord {
  /** 1-based line number of the record's first character. */
  line: number;
  fields: string[];
}

export interface TsvOptions {
  /** Used in error messages. */
  file: string;
  /** Field separator; TAB by default. */
  delimiter?: string;
}

const QUOTE = 0x22; // "
const LF = 0x0a;
const CR = 0x0d;

export function parseTsv(text: string, options: TsvOptions): TsvRecord[] {
  const delimiter = (options.delimiter ?? "\t").charCodeAt(0);
  const records: TsvRecord[] = [];
  const n = text.length;
  let pos = 0;
  let line = 1;

  while (pos < n) {
    const record: TsvRecord = { line, fields: [] };
    // One iteration per field; `pos` sits on the field's first character.
    for (;;) {
      let field: string;
      if (text.charCodeAt(pos) === QUOTE) {
        const quoteLine = line;
        let value = "";
        let from = pos + 1;
        for (;;) {
          const close = text.indexOf('"', from);
          if (close < 0) {
            const where = { file: options.file, line: quoteLine };
            throw new DataError(where, "unterminated quoted field: expected a closing '\"' before the end of the file");
          }
          line += countNewlines(text, from, close);
          value += text.slice(from, close);
          if (text.charCodeAt(close + 1) === QUOTE) {
            value += '"';
            from = close + 2;
            continue;
          }
          pos = close + 1;
          break;
        }
        const next = text.charCodeAt(pos);
        const endsField = pos >= n || next === delimiter || next === LF || (next === CR && text.charCodeAt(pos + 1) === LF);
        if (!endsField) {
          const got = JSON.stringify(text[pos]);
          throw new DataError({ file: options.file, line }, `expected a delimiter or the end of the line after a closing quote, got ${got}`);
        }
        field = value;
      } else {
        let end = pos;
        while (end < n) {
          const c = text.charCodeAt(end);
          if (c === delimiter || c === LF) break;
          end++;
        }
        // A CR right before LF belongs to the line ending, not to the field.
        const stop = end < n && text.charCodeAt(end) === LF && end > pos && text.charCodeAt(end - 1) === CR ? end - 1 : end;
        field = text.slice(pos, stop);
        pos = end;
      }
      record.fields.push(field);

      const c = text.charCodeAt(pos);
      if (c === delimiter) {
        pos++;
        continue; // a delimiter at the end of a line means one more (empty) field
      }
      if (c === CR) pos++;
      if (pos < n) {
        pos++; // the LF
        line++;
      }
      break;
    }
    records.push(record);
  }
  return records;
}
