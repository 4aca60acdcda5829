/**
 * Parses the Python-list-like strings of RecBole's Amazon files, e.g.
 * `'Beauty', 'Fragrance', "Women's", 'Eau de Parfum'` (optionally inside `[ ]`). Python's
 * repr quotes an item with `"` when it contains `'`, and escapes backslashes and the quote
 * character with `\`, so both quote styles and `\` escapes are handled. Bare words between
 * commas are accepted as items too.
 */

/** The items, or `undefined` when the text is not a well-formed list (the caller names file+line). */
export function parsePyList(text: string): string[] | undefined {
  let s = text.trim();
  if (s.startsWith("[")) {
    if (!s.endsWith("]")) return undefined;
    s = s.slice(1, -1);
  }
  const items: string[] = [];
  let pos = 0;
  const skipSpaces = () => {
    while (pos < s.length && /\s/.test(s[pos]!)) pos++;
  };
  skipSpaces();
  while (pos < s.length) {
    const quote = s[pos];
    if (quote === "'" || quote === '"') {
      let value = "";
      pos++;
      while (pos < s.length && s[pos] !== quote) {
        if (s[pos] === "\\" && pos + 1 < s.length) pos++;
        value += s[pos];
        pos++;
      }
      if (pos >= s.length) return undefined; // unterminated quote
      pos++;
      items.push(value);
    } else {
      const comma = s.indexOf(",", pos);
      const end = comma < 0 ? s.length : comma;
      items.push(s.slice(pos, end).trim());
      pos = end;
    }
    skipSpaces();
    if (pos < s.length) {
      if (s[pos] !== ",") return undefined; // two items without a comma between them
      pos++;
      skipSpaces();
    }
  }
  return items;
}
