// Lines that fit the terminal: a line is a head (a mark, a label column, an indent) and a body
// that wraps under its own column, never under the head. Colour escapes count for nothing in the
// width and are never cut. Pure.

/** SGR sequences, the only escapes the output writes (colors.ts). */
const SGR = /\x1b\[[0-9;]*m/g;

/** Continuation lines keep at least this many columns for text; below, the indent gives way. */
const MIN_TEXT_COLUMNS = 20;

/** Columns a string takes: colour escapes none, every code point one. */
export function visibleWidth(text: string): number {
  let width = 0;
  for (const _ of text.replace(SGR, "")) width += 1;
  return width;
}

/**
 * `head` then `body`, wrapped to `width` columns at spaces; continuation lines start with `indent`
 * spaces (default: the head's width, so they line up under the body). A word longer than a line is
 * cut. When the indent would leave fewer than 20 columns, continuation lines are indented 4 instead.
 * `width` Infinity (or 0) leaves the line whole.
 */
export function wrapHanging(head: string, body: string, width: number, indent: number = visibleWidth(head)): string[] {
  if (!(width > 0) || width === Number.POSITIVE_INFINITY || visibleWidth(head) + visibleWidth(body) <= width) return [head + body];
  const hang = width - indent >= MIN_TEXT_COLUMNS ? indent : Math.min(indent, 4);
  const first = Math.max(1, width - visibleWidth(head));
  const rest = Math.max(1, width - hang);
  return wrapWords(body, first, rest).map((line, i) => (i === 0 ? head + line : " ".repeat(hang) + line));
}

/** The body cut into lines: the first at most `first` columns, the others at most `rest`. */
export function wrapWords(body: string, first: number, rest: number): string[] {
  const lines: string[] = [];
  let line = "";
  let used = 0;
  let room = first;
  let space = "";
  const newLine = (): void => {
    lines.push(line);
    line = "";
    used = 0;
    room = rest;
  };
  // Odd items are the runs of spaces between words; a run is written only between two words on a line.
  body.split(/( +)/).forEach((part, i) => {
    if (i % 2 === 1) {
      space = part;
      return;
    }
    if (part === "") return;
    const w = visibleWidth(part);
    const gap = used > 0 ? space.length : 0;
    if (used + gap + w <= room || w === 0) {
      line += (used > 0 ? space : "") + part;
      used += gap + w;
      return;
    }
    if (used > 0) newLine();
    let word = part;
    while (visibleWidth(word) > room) {
      const [head, tail] = cutAt(word, room);
      line = head;
      newLine();
      word = tail;
    }
    line = word;
    used = visibleWidth(word);
  });
  if (line !== "" || lines.length === 0) lines.push(line);
  return lines;
}

/** The word cut after `columns` visible characters; escapes stay with the characters they precede. */
function cutAt(word: string, columns: number): [string, string] {
  let count = 0;
  let i = 0;
  while (i < word.length && count < columns) {
    const escape = word.startsWith("\x1b[", i) ? /^\x1b\[[0-9;]*m/.exec(word.slice(i)) : null;
    if (escape) {
      i += escape[0].length;
      continue;
    }
    const codePoint = word.codePointAt(i) ?? 0;
    i += codePoint > 0xffff ? 2 : 1;
    count += 1;
  }
  return [word.slice(0, i), word.slice(i)];
}
