import { describe, expect, it } from "vitest";
import { Outcome } from "../../../gen/smtpprobe/v1/handshake.js";
import { AgentInfo, ListRegionsResponse } from "../../../gen/smtpprobe/v1/probe_service.js";
import { makeStyle } from "../../../cli/colors.js";
import { formatAge, formatEgress, formatEgressPosture, formatRegions } from "../../../cli/format-regions.js";

const plain = makeStyle(false);
const NOW = new Date("2026-03-01T12:00:00Z");
const ago = (ms: number): Date => new Date(NOW.getTime() - ms);

describe("formatRegions", () => {
  it("one row per agent, the region named on its first row, egress per port in port order", () => {
    const response = ListRegionsResponse.fromPartial({
      regions: [
        {
          name: "eu-west",
          agents: [
            {
              agentId: "eu-1",
              region: "eu-west",
              version: "0.1.0",
              inFlight: 3,
              capacity: 32,
              lastSeen: ago(4_000),
              egress: [
                { port: 587, canary: "canary:587", ok: true },
                { port: 25, canary: "canary:25", ok: false, outcome: Outcome.OUTCOME_TIMED_OUT },
              ],
            },
            { agentId: "eu-2", region: "eu-west", version: "0.1.0", inFlight: 0, capacity: 8, lastSeen: ago(200) },
          ],
        },
        { name: "local", agents: [{ agentId: "vm-embedded", region: "local", version: "0.1.0", capacity: 32, lastSeen: ago(0) }] },
      ],
    });
    expect(formatRegions(response, plain, NOW)).toBe(
      [
        "region    agent         version   in flight   last seen   egress",
        "eu-west   eu-1          0.1.0     3/32        4 s ago     25 ✖ timed out · 587 ✔",
        "          eu-2          0.1.0     0/8         just now    no canary",
        "local     vm-embedded   0.1.0     0/32        just now    no canary",
        "",
        "2 regions, 3 agents",
        "",
      ].join("\n"),
    );
  });

  it("no live agent: says so, and how to start one", () => {
    expect(formatRegions({ regions: [] }, plain, NOW)).toBe("No region has a live agent. Start one with: smtp-probe agent --region NAME --nats URL\n");
  });

  it("agent text is made safe for the terminal", () => {
    const response = ListRegionsResponse.fromPartial({ regions: [{ name: "x", agents: [{ agentId: "a\x1b[31m", version: "\u202e1.0" }] }] });
    const text = formatRegions(response, plain, NOW);
    expect(text).toContain("a\\x1b[31m");
    expect(text).toContain("\\u202e1.0");
    expect(text).not.toContain("\x1b");
  });
});

describe("formatEgressPosture", () => {
  const lists = (...entries: [string, boolean, string?][]) => entries.map(([zone, listed, error]) => ({ zone, listed, codes: listed ? ["127.0.0.2"] : [], reason: "", error: error ?? "" }));
  const ptr = { ptrNames: ["probe.example.net"], forwardConfirmed: true, confirmedName: "probe.example.net", error: "" };
  it.each<[string, Parameters<typeof AgentInfo.fromPartial>[0], string]>([
    ["nothing without an egress address", {}, ""],
    ["a listing, with its code", { egressPosture: { address: "198.51.100.7", reverseDns: ptr, blocklists: lists(["zen.example", true], ["bl.example", false]) } }, "198.51.100.7 ✖ listed in zen.example (127.0.0.2)"],
    ["listed nowhere", { egressPosture: { address: "198.51.100.7", reverseDns: ptr, blocklists: lists(["bl.example", false]) } }, "198.51.100.7 ✔ listed nowhere"],
    [
      "a list that did not answer, and no PTR name",
      { egressPosture: { address: "198.51.100.7", reverseDns: { ...ptr, ptrNames: [] }, blocklists: lists(["bl.example", false, "timed out"]) } },
      "198.51.100.7 bl.example did not answer, no reverse DNS",
    ],
    ["no lists asked (blocklists off)", { egressPosture: { address: "198.51.100.7", reverseDns: ptr, blocklists: [] } }, "198.51.100.7"],
  ])("%s", (_name, agent, text) => {
    expect(formatEgressPosture(AgentInfo.fromPartial(agent), plain)).toBe(text);
  });

  it("is in the egress column of the agent's row", () => {
    const response = ListRegionsResponse.fromPartial({
      regions: [{ name: "eu-west", agents: [{ agentId: "eu-1", version: "1", capacity: 1, lastSeen: NOW, egressPosture: { address: "198.51.100.7", blocklists: lists(["zen.example", true]) } }] }],
    });
    expect(formatRegions(response, plain, NOW)).toContain("just now    no canary · 198.51.100.7 ✖ listed in zen.example (127.0.0.2)");
  });
});

describe("formatAge", () => {
  it.each<[Date | undefined, string]>([
    [undefined, "never"],
    [ago(400), "just now"],
    [ago(1_000), "1 s ago"],
    [ago(119_000), "119 s ago"],
    [ago(180_000), "3 min ago"],
    [ago(3 * 3_600_000), "3 h ago"],
    [ago(-2_000), "in 2 s"],
  ])("%s → %s", (when, text) => {
    expect(formatAge(when, NOW)).toBe(text);
  });
});

describe("formatEgress", () => {
  it("colours the marks", () => {
    const agent = AgentInfo.fromPartial({ egress: [{ port: 25, ok: true }] });
    expect(formatEgress(agent, makeStyle(true))).toBe("25 \x1b[32m✔\x1b[39m");
  });
});
