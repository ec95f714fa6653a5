import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatSseEvent } from "../../../services/coordinator/http/sse.js";
import { SseParser } from "../../../web/sse-parser.js";

describe("SseParser", () => {
  it.each<[string, string, { event: string; data: string; id?: string }[]]>([
    ["one event", "event: task\ndata: {\"a\":1}\n\n", [{ event: "task", data: '{"a":1}' }]],
    ["no event name: message", "data: x\n\n", [{ event: "message", data: "x" }]],
    ["comments and CRLF", ": keep-alive\r\n\r\nevent: a\r\ndata: 1\r\n\r\n", [{ event: "a", data: "1" }]],
    ["data on several lines", "data: a\ndata: b\n\n", [{ event: "message", data: "a\nb" }]],
    ["no space after the colon", "event:x\ndata:y\n\n", [{ event: "x", data: "y" }]],
    ["an event not yet ended", "event: a\ndata: 1\n", []],
    ["ids, each its own event's", "id: 7\nevent: a\ndata: 1\n\nevent: b\ndata: 2\n\n", [{ event: "a", data: "1", id: "7" }, { event: "b", data: "2" }]],
  ])("%s", (_, text, events) => {
    expect(new SseParser().push(text)).toEqual(events);
  });

  it("gives the same events however the stream is cut into chunks", () => {
    const events = [
      ["accepted", { accepted: { probeId: "p" } }],
      ["task", { task: { region: "eu-west", detail: "line\r\nbreak, ünïcode, <script>" } }],
      ["report", { report: { probeId: "p" } }],
    ] as const;
    const text = `: keep-alive\n\n${events.map(([name, data]) => formatSseEvent(name, data)).join("")}`;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: text.length }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const parser = new SseParser();
        const got: { event: string; data: string }[] = [];
        let from = 0;
        for (const point of [...points, text.length]) {
          got.push(...parser.push(text.slice(from, point)));
          from = point;
        }
        expect(got.map((e) => [e.event, JSON.parse(e.data)])).toEqual(events.map(([name, data]) => [name, data]));
      }),
    );
  });
});

describe("formatSseEvent", () => {
  it("writes the id first when given (what an EventSource sends back as Last-Event-ID); the parser reads it with the event", () => {
    const text = formatSseEvent("item", { item: { sequence: "7" } }, "7");
    expect(text).toBe('id: 7\nevent: item\ndata: {"item":{"sequence":"7"}}\n\n');
    expect(new SseParser().push(text)).toEqual([{ event: "item", data: '{"item":{"sequence":"7"}}', id: "7" }]);
    expect(formatSseEvent("progress", {})).toBe("event: progress\ndata: {}\n\n");
  });
});
