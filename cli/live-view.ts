// A block of lines on a terminal, redrawn in place: the live matrix of `check --coordinator`.
// It goes to stderr, like the local mode's progress line, and only when stderr is a terminal; it
// is erased before the results are printed on stdout, once. So stdout is the same whether it is a
// terminal, a pipe or a file, and the live view never lands in a file.
import type { ProgressStream } from "./progress.js";

export interface TerminalStream extends ProgressStream {
  rows?: number;
}

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** Visible width of a line, escape sequences left out (the marks we draw are one cell wide). */
export function visibleLength(line: string): number {
  return Array.from(line.replace(ANSI, "")).length;
}

/** A line cut to `width` visible cells; a cut line loses its colours rather than break an escape. */
export function fitLine(line: string, width: number): string {
  if (visibleLength(line) <= width) return line;
  const plain = Array.from(line.replace(ANSI, ""));
  return `${plain.slice(0, Math.max(0, width - 1)).join("")}…`;
}

export class LiveView {
  /** Lines on the screen now; the cursor is at the end of the last one. */
  private drawn = 0;

  constructor(
    private readonly stream: TerminalStream,
    readonly enabled: boolean,
  ) {}

  /**
   * Replaces what was drawn with `lines`. Each is cut to the terminal's width (a wrapped line
   * would throw the count off), and the block to its height (the cursor cannot go above the top).
   */
  draw(lines: readonly string[]): void {
    if (!this.enabled) return;
    const width = Math.max(10, (this.stream.columns || 80) - 1);
    const height = Math.max(2, (this.stream.rows || 24) - 1);
    let shown = lines.map((line) => fitLine(line, width));
    if (shown.length > height) shown = [...shown.slice(0, height - 1), `… ${shown.length - height + 1} more lines`];
    this.stream.write(`${this.erasure()}${shown.join("\n")}`);
    this.drawn = shown.length;
  }

  /** Erases the block for good: the cursor ends where the block began. */
  clear(): void {
    if (!this.enabled || this.drawn === 0) return;
    this.stream.write(this.erasure());
    this.drawn = 0;
  }

  /** Back to the start of the block's first line, then erase to the end of the screen. */
  private erasure(): string {
    if (this.drawn === 0) return "";
    return `\r${this.drawn > 1 ? `\x1b[${this.drawn - 1}A` : ""}\x1b[J`;
  }
}
