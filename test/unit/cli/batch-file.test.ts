import { describe, expect, it } from "vitest";
import { parseBatchFile } from "../../../cli/batch-file.js";

describe("parseBatchFile", () => {
  it("reads hosts and host,port lines; skips blank lines and comments", () => {
    const text = "# servers\nmx1.example.com\n\n  mx2.example.com , 25, 587 \r\n[2001:db8::1],25\n";
    expect(parseBatchFile(text, "t.txt")).toEqual([
      { host: "mx1.example.com", ports: [] },
      { host: "mx2.example.com", ports: [25, 587] },
      { host: "[2001:db8::1]", ports: [25] },
    ]);
  });

  it.each([
    ["a.example\nb.example,0", "FILE: t.txt:2: \"0\" is not a port (1-65535)"],
    ["a.example,x", "FILE: t.txt:1: \"x\" is not a port (1-65535)"],
    ["a example", "FILE: t.txt:1: \"a example\" is not \"host\" or \"host,port[,port...]\""],
    [",25", "FILE: t.txt:1: \",25\" is not"],
    ["a.example,1,2,3,4,5,6,7,8,9", "FILE: t.txt:1: at most 8 ports on a line, got 9"],
    ["# nothing\n\n", "FILE: t.txt: no targets"],
  ])("%j is refused naming the line", (text, message) => {
    expect(() => parseBatchFile(text, "t.txt")).toThrow(message);
  });
});
