// The human output fits the width, end to end: the real binary against an smtp-server fixture this
// test starts on 127.0.0.1 and a port nothing listens on, at 60 and 100 columns (COLUMNS, as a
// terminal of that width would give) and at 80 through a pipe. Nothing else is contacted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../helpers/free-port.js";
import { runCli } from "../helpers/processes.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";

const TEST_MS = 40_000;
/** The value column of a handshake's block: 2 spaces and a 12-column label. */
const VALUE_COLUMN = 14;

let fixture: SmtpFixture;
let closed: number;

beforeAll(async () => {
  fixture = await startSmtpFixture({ banner: "a banner long enough to need a second line at sixty columns, and then some more" });
  closed = await freePort();
});

afterAll(async () => {
  await fixture?.stop();
});

/** Lines of one handshake block, from its title to its findings. */
function blockRows(lines: readonly string[]): string[] {
  const start = lines.findIndex((l) => l.startsWith("── "));
  const end = lines.findIndex((l, i) => i > start && l.startsWith("  Findings"));
  return lines.slice(start + 1, end);
}

describe("human output at the terminal's width", () => {
  it.each<[string, Record<string, string>, number]>([
    ["60 columns", { COLUMNS: "60" }, 60],
    ["100 columns", { COLUMNS: "100" }, 100],
    ["a pipe without COLUMNS: 80", {}, 80],
  ])(
    "%s: every line fits; a long value wraps under its own column, never under the labels",
    async (_, env, width) => {
      const run = await runCli(["check", "127.0.0.1", "--port", `${fixture.port},${closed}`, "--transcript", "--timeout", "4"], env);
      expect(run.code).toBe(3);
      const lines = run.stdout.trimEnd().split("\n");
      const widest = lines.reduce((a, b) => (Array.from(b).length > Array.from(a).length ? b : a), "");
      expect(Array.from(widest).length, widest).toBeLessThanOrEqual(width);
      // The summary of the refused port wraps under its text column.
      const refused = lines.findIndex((l) => l.startsWith(`✖ 127.0.0.1:${closed}`));
      const column = lines[refused]!.indexOf("refused");
      if (Array.from(lines[refused]!).length >= width - 10) expect(lines[refused + 1]).toMatch(new RegExp(`^ {${column}}\\S`));
      // In the block, every line is a row (a label at 2) or a continuation at the value column or beyond.
      for (const row of blockRows(lines)) expect(row, row).toMatch(new RegExp(`^ {2}(?:[A-Z]\\S*(?: [A-Z]\\S*)? +\\S| {${VALUE_COLUMN - 2},}\\S)`));
      const banner = lines.findIndex((l) => l.startsWith("  Banner"));
      expect(lines[banner + 1]).toMatch(new RegExp(`^ {${VALUE_COLUMN}}\\S`));
    },
    TEST_MS,
  );
});
