// How wide the human output may be. Pure: the stream and the environment come in.

/** The width when stdout is not a terminal (a pipe, a file) and COLUMNS does not say. */
export const DEFAULT_WIDTH = 80;
/** Narrower than this, a label column and its value no longer fit side by side. */
const MIN_WIDTH = 40;

/**
 * COLUMNS when it holds a width (the convention of ls and friends: it wins, so a script or a test
 * can fix the width); else the terminal's width; else 80. Never less than 40.
 */
export function outputWidth(stream: { isTTY?: boolean; columns?: number }, env: Readonly<Record<string, string | undefined>>): number {
  const fromEnv = /^\d{1,4}$/.test(env.COLUMNS?.trim() ?? "") ? Number(env.COLUMNS) : 0;
  const fromTerminal = stream.isTTY === true && typeof stream.columns === "number" ? stream.columns : 0;
  return Math.max(MIN_WIDTH, fromEnv || fromTerminal || DEFAULT_WIDTH);
}
