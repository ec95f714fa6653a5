import { describe, expect, it } from "vitest";
import { fitLine, LiveView, visibleLength } from "../../../cli/live-view.js";

function terminal(columns = 40, rows = 10) {
  const writes: string[] = [];
  return { writes, stream: { columns, rows, write: (text: string) => writes.push(text) } };
}

describe("LiveView", () => {
  it("draws, then moves back to the block's first line and erases before each redraw and at the end", () => {
    const { writes, stream } = terminal();
    const view = new LiveView(stream, true);
    view.draw(["one", "two", "three"]);
    view.draw(["uno"]);
    view.draw(["a", "b"]);
    view.clear();
    view.clear();
    expect(writes).toEqual(["one\ntwo\nthree", "\r\x1b[2A\x1b[Juno", "\r\x1b[Ja\nb", "\r\x1b[1A\x1b[J"]);
  });

  it("cuts lines to the width and the block to the height, so the cursor arithmetic holds", () => {
    const { writes, stream } = terminal(12, 4);
    const view = new LiveView(stream, true);
    view.draw(["a very long line indeed", "2", "3", "4", "5"]);
    // One column is left free: a line that fills the last one makes some terminals wrap.
    expect(writes[0]).toBe("a very lon…\n2\n… 3 more lines");
  });

  it("writes nothing when disabled (stderr is not a terminal)", () => {
    const { writes, stream } = terminal();
    const view = new LiveView(stream, false);
    view.draw(["x"]);
    view.clear();
    expect(writes).toEqual([]);
  });
});

describe("fitLine", () => {
  it("measures without escape sequences, and drops colour only from a line it cuts", () => {
    expect(visibleLength("\x1b[32m✔\x1b[39m ok")).toBe(4);
    expect(fitLine("\x1b[32m✔\x1b[39m ok", 4)).toBe("\x1b[32m✔\x1b[39m ok");
    expect(fitLine("\x1b[32m✔\x1b[39m okay", 4)).toBe("✔ o…");
  });
});
