import { isIP } from "node:net";
import { describe, expect, it } from "vitest";
import { AddressFamily, type DeepPartial, HandshakeResult, Outcome, Phase, Severity } from "../../../../gen/smtpprobe/v1/handshake.js";
import {
  CellState,
  type Comparison,
  MatrixCell,
  type PortVerdict,
  TaskReport,
  TaskStatus,
  VerdictKind,
} from "../../../../gen/smtpprobe/v1/probe_service.js";
import { compareRegions, describeCell } from "../../../../services/coordinator/compare.js";
import { familyCell } from "../../../../services/coordinator/compare-cells.js";
import { done, dropped, failed, FP_A, ok as okBuilder, refused, silent } from "../../../helpers/report-builders.js";

const FP_B = "BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB:BB";

// ---- Builders (test/helpers/report-builders.ts, and what the comparison needs beyond them) ----

/** The shared clean handshake, with more EHLO keywords (PIPELINING, SIZE, AUTH LOGIN) for the capability verdicts to compare. */
function ok(over: DeepPartial<HandshakeResult> = {}): DeepPartial<HandshakeResult> {
  return okBuilder({
    capabilities: { greeting: "mx.example.com", starttls: true, pipelining: true, size: 10240000 },
    capabilitiesTls: { greeting: "mx.example.com", pipelining: true, size: 10240000, authMechanisms: ["PLAIN", "LOGIN"] },
    ...over,
  });
}

/** A failing canary on the port: the agent's own egress is blocked. */
function egressFails(port: number): DeepPartial<TaskReport> {
  return { egress: { port, canary: `canary.example.net:${port}`, ok: false, outcome: Outcome.OUTCOME_TIMED_OUT } };
}

const REGIONS = ["us-east", "eu-west", "ap-south"];
const { SEVERITY_INFO: INFO, SEVERITY_WARNING: WARNING, SEVERITY_ERROR: ERROR } = Severity;
const K = VerdictKind;

// ---- The table ----

interface ExpectedVerdict {
  port: number;
  kind: VerdictKind;
  regions: string[];
  causes?: [string, string][];
  severity?: Severity;
  summary?: string;
  /** failed_addresses as [region, address (or the name, without one), cause] */
  failed?: [string, string, string][];
}

interface Scenario {
  name: string;
  tasks: TaskReport[];
  regions?: string[];
  ports?: number[];
  /** [region, port, state, cause], checked when given */
  cells?: [string, number, CellState, string][];
  verdicts: ExpectedVerdict[];
  missing?: [string, string][];
}

const scenarios: Scenario[] = [
  {
    name: "all reachable",
    tasks: REGIONS.map((r) => done(r, 25, [ok()])),
    cells: REGIONS.map((r) => [r, 25, CellState.CELL_STATE_REACHED, ""]),
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_REACHABLE_EVERYWHERE,
        regions: REGIONS,
        severity: INFO,
        summary: "Port 25 is open from every region: us-east, eu-west and ap-south.",
      },
    ],
    missing: [],
  },
  {
    name: "blocked: dropped from one region, refused from another",
    tasks: [done("us-east", 25, [ok()]), done("eu-west", 25, [dropped()]), done("ap-south", 25, [refused()])],
    cells: [
      ["us-east", 25, CellState.CELL_STATE_REACHED, ""],
      ["eu-west", 25, CellState.CELL_STATE_BLOCKED, "dropped"],
      ["ap-south", 25, CellState.CELL_STATE_BLOCKED, "refused"],
    ],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_BLOCKED_FROM_REGIONS,
        regions: ["eu-west", "ap-south"],
        causes: [
          ["eu-west", "dropped"],
          ["ap-south", "refused"],
        ],
        severity: WARNING,
        summary: "Port 25 is dropped from eu-west and refused from ap-south, open from us-east.",
      },
    ],
  },
  {
    name: "blocked: same cause grouped, reset and banner rejection",
    regions: ["us-east", "eu-west", "ap-south", "sa-east", "af-south"],
    tasks: [
      done("us-east", 25, [dropped()]),
      done("eu-west", 25, [ok()]),
      done("ap-south", 25, [dropped()]),
      done("sa-east", 25, [failed(Outcome.OUTCOME_RESET, Phase.PHASE_CONNECT)]),
      done("af-south", 25, [
        failed(Outcome.OUTCOME_REJECTED, Phase.PHASE_BANNER, { banner: { code: 554, lines: ["no"] }, lastReply: { code: 554 } }),
      ]),
    ],
    cells: [
      ["sa-east", 25, CellState.CELL_STATE_BLOCKED, "reset"],
      ["af-south", 25, CellState.CELL_STATE_REJECTED, "banner 554"],
    ],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_BLOCKED_FROM_REGIONS,
        regions: ["us-east", "ap-south", "sa-east", "af-south"],
        causes: [
          ["us-east", "dropped"],
          ["ap-south", "dropped"],
          ["sa-east", "reset"],
          ["af-south", "banner rejected 554"],
        ],
        summary:
          "Port 25 is dropped from us-east and ap-south, reset from sa-east, and rejected at the banner with 554 from af-south, open from eu-west.",
      },
    ],
  },
  {
    name: "egress-blocked region: reported apart, not as blocked by the target",
    tasks: [
      done("us-east", 25, [ok()]),
      done("eu-west", 25, [dropped()], egressFails(25)),
      done("ap-south", 25, [refused()]),
    ],
    cells: [["eu-west", 25, CellState.CELL_STATE_BLOCKED, "dropped (agent egress)"]],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_BLOCKED_FROM_REGIONS,
        regions: ["ap-south"],
        summary: "Port 25 is refused from ap-south, open from us-east.",
      },
      {
        port: 25,
        kind: K.VERDICT_KIND_AGENT_EGRESS_BLOCKED,
        regions: ["eu-west"],
        causes: [["eu-west", "dropped, and the canary canary.example.net:25 fails too"]],
        severity: WARNING,
        summary:
          "Port 25: the agents in eu-west cannot reach their own canary on port 25 either: outbound 25 is blocked at the agent's side, not by the target.",
      },
    ],
  },
  {
    name: "egress-blocked region beside reachable ones: still reachable from every region that could test it",
    tasks: [done("us-east", 25, [ok()]), done("eu-west", 25, [dropped()], egressFails(25)), done("ap-south", 25, [ok()])],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_REACHABLE_EVERYWHERE,
        regions: ["us-east", "ap-south"],
        summary: "Port 25 is open from every region that could test it: us-east and ap-south.",
      },
      { port: 25, kind: K.VERDICT_KIND_AGENT_EGRESS_BLOCKED, regions: ["eu-west"] },
    ],
  },
  {
    name: "a failing canary does not excuse a banner rejection (the target answered)",
    tasks: [
      done("us-east", 25, [ok()]),
      done("eu-west", 25, [failed(Outcome.OUTCOME_REJECTED, Phase.PHASE_BANNER, { lastReply: { code: 554 } })], egressFails(25)),
    ],
    regions: ["us-east", "eu-west"],
    verdicts: [{ port: 25, kind: K.VERDICT_KIND_BLOCKED_FROM_REGIONS, regions: ["eu-west"], causes: [["eu-west", "banner rejected 554"]] }],
  },
  {
    name: "all egress-blocked: only the egress verdict",
    tasks: REGIONS.map((r) => done(r, 25, [dropped()], egressFails(25))),
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_AGENT_EGRESS_BLOCKED,
        regions: REGIONS,
        summary:
          "Port 25: the agents in us-east, eu-west and ap-south cannot reach their own canaries on port 25 either: outbound 25 is blocked at the agents' side, not by the target.",
      },
    ],
  },
  {
    name: "unreachable everywhere",
    tasks: [
      done("us-east", 25, [dropped()]),
      done("eu-west", 25, [dropped()]),
      done("ap-south", 25, [failed(Outcome.OUTCOME_UNREACHABLE, Phase.PHASE_CONNECT)]),
    ],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_UNREACHABLE_EVERYWHERE,
        regions: REGIONS,
        severity: ERROR,
        causes: [
          ["us-east", "dropped"],
          ["eu-west", "dropped"],
          ["ap-south", "unreachable"],
        ],
        summary: "Port 25 is unreachable from every region: dropped from us-east and eu-west, and unreachable from ap-south.",
      },
    ],
  },
  {
    name: "unreachable from the regions that answered, one egress-blocked, one without agent",
    tasks: [
      done("us-east", 25, [failed(Outcome.OUTCOME_TLS_FAILED, Phase.PHASE_TLS)]),
      done("eu-west", 25, [dropped()], egressFails(25)),
      silent("ap-south", 25, TaskStatus.TASK_STATUS_NO_AGENT),
    ],
    cells: [["us-east", 25, CellState.CELL_STATE_FAILED, "TLS failed"]],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_UNREACHABLE_EVERYWHERE,
        regions: ["us-east"],
        summary: "Port 25 is unreachable: failing (TLS failed) from us-east.",
      },
      { port: 25, kind: K.VERDICT_KIND_AGENT_EGRESS_BLOCKED, regions: ["eu-west"] },
    ],
    missing: [["ap-south", "no agent"]],
  },
  {
    name: "no banner in one region, a refused greeting in another: each cell says which",
    tasks: [
      done("us-east", 465, [failed(Outcome.OUTCOME_NO_BANNER, Phase.PHASE_BANNER)]),
      done("eu-west", 465, [failed(Outcome.OUTCOME_GREETING_REFUSED, Phase.PHASE_EHLO, { lastReply: { code: 550, lines: ["go away"] } })]),
    ],
    regions: ["us-east", "eu-west"],
    ports: [465],
    cells: [
      ["us-east", 465, CellState.CELL_STATE_FAILED, "no banner"],
      ["eu-west", 465, CellState.CELL_STATE_FAILED, "greeting refused 550"],
    ],
    verdicts: [
      {
        port: 465,
        kind: K.VERDICT_KIND_UNREACHABLE_EVERYWHERE,
        regions: ["us-east", "eu-west"],
        summary: "Port 465 is unreachable from every region: failing (no banner) from us-east and failing (greeting refused 550) from eu-west.",
      },
    ],
  },
  {
    name: "no agent in one region: listed as missing, never as blocked",
    tasks: [done("us-east", 25, [ok()]), done("eu-west", 25, [ok()]), silent("ap-south", 25, TaskStatus.TASK_STATUS_NO_AGENT)],
    cells: [["ap-south", 25, CellState.CELL_STATE_NO_ANSWER, "no agent"]],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_REACHABLE_EVERYWHERE,
        regions: ["us-east", "eu-west"],
        summary: "Port 25 is open from every region that could test it: us-east and eu-west.",
      },
    ],
    missing: [["ap-south", "no agent"]],
  },
  {
    name: "agent lost in one region while the others are blocked: unreachable, the lost one not named",
    tasks: [done("us-east", 25, [dropped()]), silent("eu-west", 25, TaskStatus.TASK_STATUS_AGENT_LOST), done("ap-south", 25, [dropped()])],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_UNREACHABLE_EVERYWHERE,
        regions: ["us-east", "ap-south"],
        summary: "Port 25 is unreachable from every region that could test it: dropped from us-east and ap-south.",
      },
    ],
    missing: [["eu-west", "agent lost"]],
  },
  {
    name: "no region answered: NO_DATA, every region missing, a task absent altogether",
    tasks: [
      silent("us-east", 25, TaskStatus.TASK_STATUS_NO_AGENT),
      silent("eu-west", 25, TaskStatus.TASK_STATUS_TIMED_OUT),
      // ap-south: no report at all
    ],
    cells: [["ap-south", 25, CellState.CELL_STATE_NO_ANSWER, "no report"]],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_NO_DATA,
        regions: REGIONS,
        summary: "Port 25: no region answered (no agent in us-east, no result in time in eu-west and no report in ap-south).",
      },
    ],
    missing: [
      ["us-east", "no agent"],
      ["eu-west", "no result in time"],
      ["ap-south", "no report"],
    ],
  },
  {
    name: "STARTTLS stripped in one region",
    tasks: [
      done("us-east", 25, [ok()]),
      done("eu-west", 25, [ok()]),
      done("ap-south", 25, [
        ok({
          capabilities: { greeting: "mx.example.com", starttls: false, pipelining: true, size: 10240000 },
          capabilitiesTls: undefined,
          tls: undefined,
        }),
      ]),
    ],
    cells: [["ap-south", 25, CellState.CELL_STATE_REACHED, ""]],
    verdicts: [
      { port: 25, kind: K.VERDICT_KIND_REACHABLE_EVERYWHERE, regions: REGIONS },
      {
        port: 25,
        kind: K.VERDICT_KIND_STARTTLS_DIFFERS,
        regions: ["ap-south"],
        causes: [["ap-south", "STARTTLS not offered"]],
        severity: ERROR,
        summary:
          "Port 25: STARTTLS is offered from us-east and eu-west but not from ap-south: possible STARTTLS stripping on the path from ap-south.",
      },
      // No capabilities or TLS version verdict: the plaintext keywords are the same everywhere.
    ],
  },
  {
    name: "another certificate in one region",
    tasks: [
      done("us-east", 25, [ok()]),
      done("eu-west", 25, [ok({ tls: { protocol: "TLSv1.3", chain: [{ subject: "CN=proxy.example.net", fingerprintSha256: FP_B }] } })]),
      done("ap-south", 25, [ok()]),
    ],
    verdicts: [
      { port: 25, kind: K.VERDICT_KIND_REACHABLE_EVERYWHERE, regions: REGIONS },
      {
        port: 25,
        kind: K.VERDICT_KIND_CERTIFICATE_DIFFERS,
        regions: ["eu-west"],
        causes: [["eu-west", `certificate CN=proxy.example.net (SHA-256 ${FP_B}), not CN=mx.example.com (SHA-256 ${FP_A})`]],
        severity: WARNING,
        summary:
          "Port 25: the certificate is CN=mx.example.com (SHA-256 AA:AA:AA:AA…) from us-east and ap-south " +
          "but CN=proxy.example.net (SHA-256 BB:BB:BB:BB…) from eu-west: TLS interception, or geo-routing to other servers.",
      },
    ],
  },
  {
    name: "banner host differs",
    tasks: [
      done("us-east", 25, [ok()]),
      done("eu-west", 25, [ok({ banner: { code: 220, lines: ["mx-eu.example.com ESMTP"] } })]),
      done("ap-south", 25, [ok({ banner: { code: 220, lines: ["MX.example.com. ESMTP other text"] } })]),
    ],
    verdicts: [
      { port: 25, kind: K.VERDICT_KIND_REACHABLE_EVERYWHERE, regions: REGIONS },
      {
        port: 25,
        kind: K.VERDICT_KIND_BANNER_DIFFERS,
        regions: ["eu-west"],
        severity: INFO,
        causes: [["eu-west", "banner host mx-eu.example.com, not mx.example.com"]],
        summary: "Port 25: the banner names mx.example.com from us-east and ap-south but mx-eu.example.com from eu-west: geo-routing or interception.",
      },
    ],
  },
  {
    name: "capabilities differ (over TLS)",
    tasks: [
      done("us-east", 587, [ok()]),
      done("eu-west", 587, [ok()]),
      done("ap-south", 587, [
        ok({ capabilitiesTls: { greeting: "mx.example.com", pipelining: true, size: 52428800, authMechanisms: ["PLAIN"] } }),
      ]),
    ],
    ports: [587],
    verdicts: [
      { port: 587, kind: K.VERDICT_KIND_REACHABLE_EVERYWHERE, regions: REGIONS },
      {
        port: 587,
        kind: K.VERDICT_KIND_CAPABILITIES_DIFFER,
        regions: ["ap-south"],
        severity: INFO,
        causes: [["ap-south", "without AUTH LOGIN, SIZE 10240000; with SIZE 52428800"]],
        summary:
          "Port 587: the EHLO capabilities over TLS differ between regions: " +
          "AUTH LOGIN is offered from us-east and eu-west but not from ap-south, " +
          "SIZE 10240000 is offered from us-east and eu-west but not from ap-south, " +
          "and SIZE 52428800 is offered from ap-south but not from us-east and eu-west.",
      },
    ],
  },
  {
    name: "TLS version differs",
    tasks: [
      done("us-east", 25, [ok()]),
      done("eu-west", 25, [ok({ tls: { protocol: "TLSv1.2", chain: [{ subject: "CN=mx.example.com", fingerprintSha256: FP_A }] } })]),
      done("ap-south", 25, [ok()]),
    ],
    verdicts: [
      { port: 25, kind: K.VERDICT_KIND_REACHABLE_EVERYWHERE, regions: REGIONS },
      {
        port: 25,
        kind: K.VERDICT_KIND_TLS_VERSION_DIFFERS,
        regions: ["eu-west"],
        severity: WARNING,
        causes: [["eu-west", "TLSv1.2, not TLSv1.3"]],
        summary:
          "Port 25: TLS is negotiated as TLSv1.3 from us-east and ap-south but TLSv1.2 from eu-west: " +
          "another server, or a middlebox terminating TLS, on the path from eu-west.",
      },
    ],
  },
  {
    name: "MX with several exchangers: a failed exchanger makes the port partly reachable; differences compared per exchanger",
    tasks: [
      done("us-east", 25, [
        ok({ host: "mx1.example.com", exchange: "mx1.example.com", mxPreference: 10 }),
        ok({ host: "mx2.example.com", exchange: "mx2.example.com", mxPreference: 20 }),
      ]),
      done("eu-west", 25, [
        dropped({ host: "mx1.example.com", exchange: "mx1.example.com", mxPreference: 10 }),
        ok({ host: "mx2.example.com", exchange: "mx2.example.com", mxPreference: 20, tls: { protocol: "TLSv1.2", chain: [] } }),
      ]),
      done("ap-south", 25, [
        ok({
          host: "mx1.example.com",
          exchange: "mx1.example.com",
          mxPreference: 10,
          tls: { protocol: "TLSv1.2", chain: [{ subject: "CN=mx.example.com", fingerprintSha256: FP_A }] },
        }),
        refused({ host: "mx2.example.com", exchange: "mx2.example.com", mxPreference: 20 }),
      ]),
    ],
    cells: [
      ["us-east", 25, CellState.CELL_STATE_REACHED, ""],
      ["eu-west", 25, CellState.CELL_STATE_PARTIAL, "1 of 2 ok, 1 dropped"],
      ["ap-south", 25, CellState.CELL_STATE_PARTIAL, "1 of 2 ok, 1 refused"],
    ],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_PARTIALLY_REACHABLE,
        regions: ["eu-west", "ap-south"],
        severity: WARNING,
        causes: [
          ["eu-west", "mx1.example.com (192.0.2.10) is dropped"],
          ["ap-south", "mx2.example.com (192.0.2.10) is refused"],
        ],
        summary:
          "Port 25 is open from us-east, eu-west and ap-south, but not through every exchanger: " +
          "from eu-west, mx1.example.com (192.0.2.10) is dropped; from ap-south, mx2.example.com (192.0.2.10) is refused.",
        failed: [
          ["eu-west", "192.0.2.10", "dropped"],
          ["ap-south", "192.0.2.10", "refused"],
        ],
      },
      // mx1 compared between us-east and ap-south, mx2 between us-east and eu-west: a tie of one
      // region each, the earlier region is the reference.
      {
        port: 25,
        kind: K.VERDICT_KIND_TLS_VERSION_DIFFERS,
        regions: ["ap-south"],
        summary:
          "Port 25 (mx1.example.com): TLS is negotiated as TLSv1.3 from us-east but TLSv1.2 from ap-south: " +
          "another server, or a middlebox terminating TLS, on the path from ap-south.",
      },
      { port: 25, kind: K.VERDICT_KIND_TLS_VERSION_DIFFERS, regions: ["eu-west"] },
    ],
  },
  {
    name: "MX where every exchanger failed: the most telling failure (furthest phase) is the cell",
    tasks: [
      done("us-east", 25, [ok()]),
      done("eu-west", 25, [
        failed(Outcome.OUTCOME_UNREACHABLE, Phase.PHASE_CONNECT, { exchange: "mx1.example.com" }),
        failed(Outcome.OUTCOME_REJECTED, Phase.PHASE_BANNER, { exchange: "mx2.example.com", lastReply: { code: 554 } }),
        dropped({ exchange: "mx3.example.com" }),
      ]),
      done("ap-south", 25, [
        failed(Outcome.OUTCOME_UNREACHABLE, Phase.PHASE_CONNECT, { address: "2001:db8::1" }),
        dropped({ address: "192.0.2.10" }),
      ]),
    ],
    cells: [
      ["eu-west", 25, CellState.CELL_STATE_REJECTED, "banner 554"],
      ["ap-south", 25, CellState.CELL_STATE_BLOCKED, "dropped"],
    ],
    verdicts: [{ port: 25, kind: K.VERDICT_KIND_BLOCKED_FROM_REGIONS, regions: ["eu-west", "ap-south"] }],
  },
  {
    name: "several ports at once: verdicts in port order, missing merged per region",
    ports: [25, 587, 465],
    tasks: [
      done("us-east", 25, [ok()]),
      done("us-east", 587, [ok()]),
      done("us-east", 465, [ok({ capabilities: undefined })]),
      done("eu-west", 25, [dropped()], egressFails(25)),
      done("eu-west", 587, [ok()]),
      silent("eu-west", 465, TaskStatus.TASK_STATUS_AGENT_LOST),
      silent("ap-south", 25, TaskStatus.TASK_STATUS_NO_AGENT),
      silent("ap-south", 587, TaskStatus.TASK_STATUS_NO_AGENT),
      silent("ap-south", 465, TaskStatus.TASK_STATUS_NO_AGENT),
    ],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_REACHABLE_EVERYWHERE,
        regions: ["us-east"],
        summary: "Port 25 is open from us-east, the only region that could test it.",
      },
      { port: 25, kind: K.VERDICT_KIND_AGENT_EGRESS_BLOCKED, regions: ["eu-west"] },
      { port: 587, kind: K.VERDICT_KIND_REACHABLE_EVERYWHERE, regions: ["us-east", "eu-west"] },
      { port: 465, kind: K.VERDICT_KIND_REACHABLE_EVERYWHERE, regions: ["us-east"] },
    ],
    missing: [
      ["eu-west", "agent lost on port 465"],
      ["ap-south", "no agent"],
    ],
  },
  {
    name: "causes that differ by port are listed per port",
    regions: ["local"],
    ports: [25, 587, 2525],
    tasks: [
      silent("local", 25, TaskStatus.TASK_STATUS_AGENT_LOST),
      silent("local", 587, TaskStatus.TASK_STATUS_TIMED_OUT),
      silent("local", 2525, TaskStatus.TASK_STATUS_TIMED_OUT),
    ],
    verdicts: [
      { port: 25, kind: K.VERDICT_KIND_NO_DATA, regions: ["local"] },
      { port: 587, kind: K.VERDICT_KIND_NO_DATA, regions: ["local"] },
      { port: 2525, kind: K.VERDICT_KIND_NO_DATA, regions: ["local"] },
    ],
    missing: [["local", "agent lost on port 25; no result in time on ports 587 and 2525"]],
  },
  {
    name: "one region (embedded mode), reached",
    regions: ["local"],
    tasks: [done("local", 25, [ok()])],
    verdicts: [{ port: 25, kind: K.VERDICT_KIND_REACHABLE_EVERYWHERE, regions: ["local"], summary: "Port 25 is open from local." }],
  },
  {
    name: "task statuses without an answer, and failures past connect",
    regions: ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
    tasks: [
      silent("a", 25, TaskStatus.TASK_STATUS_PENDING),
      silent("b", 25, TaskStatus.TASK_STATUS_INVALID_REPORT),
      silent("c", 25, TaskStatus.TASK_STATUS_CANCELLED),
      silent("d", 25, TaskStatus.TASK_STATUS_AGENT_ERROR),
      done("e", 25, [failed(Outcome.OUTCOME_DNS_FAILED, Phase.PHASE_RESOLVE)]),
      done("f", 25, [failed(Outcome.OUTCOME_POLICY_DENIED, Phase.PHASE_POLICY)]),
      done("g", 25, [failed(Outcome.OUTCOME_TIMED_OUT, Phase.PHASE_BANNER)]),
      done("h", 25, [failed(Outcome.OUTCOME_DEFERRED, Phase.PHASE_BANNER, { banner: { code: 421 } })]),
      done("i", 25, [failed(Outcome.OUTCOME_REJECTED, Phase.PHASE_HELO, { lastReply: { code: 550 } })]),
      done("j", 25, [ok()]),
    ],
    cells: [
      ["a", 25, CellState.CELL_STATE_NO_ANSWER, "pending"],
      ["b", 25, CellState.CELL_STATE_NO_ANSWER, "invalid report"],
      ["c", 25, CellState.CELL_STATE_NO_ANSWER, "cancelled"],
      ["d", 25, CellState.CELL_STATE_NO_ANSWER, "agent error"],
      ["e", 25, CellState.CELL_STATE_DNS_FAILED, "DNS failed"],
      ["f", 25, CellState.CELL_STATE_POLICY_DENIED, "policy denied"],
      ["g", 25, CellState.CELL_STATE_FAILED, "timed out at banner"],
      ["h", 25, CellState.CELL_STATE_REJECTED, "banner 421"],
      ["i", 25, CellState.CELL_STATE_FAILED, "HELO 550"],
    ],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_BLOCKED_FROM_REGIONS,
        regions: ["e", "f", "g", "h", "i"],
        summary:
          "Port 25 is not resolvable from e, denied by the agents' target policy from f, failing (timed out at banner) from g, " +
          "deferred at the banner with 421 from h and failing (HELO 550) from i, open from j.",
      },
    ],
    missing: [
      ["a", "pending"],
      ["b", "invalid report"],
      ["c", "cancelled"],
      ["d", "agent error"],
    ],
  },
  {
    name: "THROTTLED (not tried) is no answer, never blocked; a handshake that ran tells more",
    regions: ["a", "b", "c"],
    tasks: [
      done("a", 25, [failed(Outcome.OUTCOME_THROTTLED, Phase.PHASE_POLICY)]),
      done("b", 25, [failed(Outcome.OUTCOME_THROTTLED, Phase.PHASE_POLICY), failed(Outcome.OUTCOME_REFUSED, Phase.PHASE_CONNECT)]),
      done("c", 25, [ok()]),
    ],
    cells: [
      ["a", 25, CellState.CELL_STATE_NO_ANSWER, "throttled"],
      ["b", 25, CellState.CELL_STATE_BLOCKED, "refused"],
      ["c", 25, CellState.CELL_STATE_REACHED, ""],
    ],
    verdicts: [{ port: 25, kind: K.VERDICT_KIND_BLOCKED_FROM_REGIONS, regions: ["b"] }],
    missing: [["a", "throttled"]],
  },
  {
    name: "dual stack, one region: IPv4 answers, IPv6 is refused — partly reachable, never everywhere",
    regions: ["local"],
    tasks: [done("local", 25, [ok({ address: "127.0.0.1" }), refused({ address: "::1" })])],
    cells: [["local", 25, CellState.CELL_STATE_PARTIAL, "v4 ok, v6 refused"]],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_PARTIALLY_REACHABLE,
        regions: ["local"],
        severity: WARNING,
        causes: [["local", "IPv6 (::1) is refused"]],
        summary: "Port 25 is open from local on IPv4 (127.0.0.1), but IPv6 (::1) is refused.",
        failed: [["local", "::1", "refused"]],
      },
    ],
  },
  {
    name: "MX: a dead primary, a working secondary",
    regions: ["us-east"],
    tasks: [
      done("us-east", 25, [
        refused({ host: "mx1.example.test", exchange: "mx1.example.test", mxPreference: 10, address: "192.0.2.1" }),
        ok({ host: "mx2.example.test", exchange: "mx2.example.test", mxPreference: 20, address: "192.0.2.2" }),
      ]),
    ],
    cells: [["us-east", 25, CellState.CELL_STATE_PARTIAL, "1 of 2 ok, 1 refused"]],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_PARTIALLY_REACHABLE,
        regions: ["us-east"],
        summary: "Port 25 is open from us-east through mx2.example.test, but mx1.example.test (192.0.2.1) is refused.",
        failed: [["us-east", "192.0.2.1", "refused"]],
      },
    ],
  },
  {
    name: "MX: every exchanger answers on IPv4, not on IPv6: the family is named with the exchanger",
    regions: ["us-east"],
    tasks: [
      done("us-east", 25, [
        ok({ host: "mx1.example.test", exchange: "mx1.example.test", mxPreference: 10, address: "192.0.2.1" }),
        refused({ host: "mx1.example.test", exchange: "mx1.example.test", mxPreference: 10, address: "2001:db8::1" }),
      ]),
    ],
    cells: [["us-east", 25, CellState.CELL_STATE_PARTIAL, "v4 ok, v6 refused"]],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_PARTIALLY_REACHABLE,
        regions: ["us-east"],
        summary: "Port 25 is open from us-east through mx1.example.test over IPv4, but mx1.example.test over IPv6 (2001:db8::1) is refused.",
      },
    ],
  },
  {
    name: "MX: an exchanger that does not resolve is named without an address",
    regions: ["us-east"],
    tasks: [
      done("us-east", 25, [
        failed(Outcome.OUTCOME_DNS_FAILED, Phase.PHASE_RESOLVE, { host: "mx1.example.test", exchange: "mx1.example.test", mxPreference: 10, address: "" }),
        ok({ host: "mx2.example.test", exchange: "mx2.example.test", mxPreference: 20, address: "192.0.2.2" }),
      ]),
    ],
    cells: [["us-east", 25, CellState.CELL_STATE_PARTIAL, "1 of 2 ok, 1 DNS failed"]],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_PARTIALLY_REACHABLE,
        regions: ["us-east"],
        summary: "Port 25 is open from us-east through mx2.example.test, but mx1.example.test is not resolvable.",
        failed: [["us-east", "mx1.example.test", "DNS failed"]],
      },
    ],
  },
  {
    name: "four addresses, two failing in different ways",
    regions: ["local"],
    tasks: [
      done("local", 25, [
        ok({ address: "127.0.0.1" }),
        refused({ address: "127.0.0.2" }),
        dropped({ address: "127.0.0.3" }),
        ok({ address: "127.0.0.4" }),
      ]),
    ],
    cells: [["local", 25, CellState.CELL_STATE_PARTIAL, "2 of 4 ok, 1 refused, 1 dropped"]],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_PARTIALLY_REACHABLE,
        regions: ["local"],
        summary: "Port 25 is open from local on 127.0.0.1 and 127.0.0.4, but 127.0.0.2 is refused and 127.0.0.3 is dropped.",
        failed: [
          ["local", "127.0.0.2", "refused"],
          ["local", "127.0.0.3", "dropped"],
        ],
      },
    ],
  },
  {
    name: "the same family failing the same way in two regions: one sentence for both",
    regions: ["us-east", "eu-west"],
    tasks: ["us-east", "eu-west"].map((r) =>
      done(r, 25, [ok(), failed(Outcome.OUTCOME_TLS_FAILED, Phase.PHASE_TLS, { address: "2001:db8::10" }), failed(Outcome.OUTCOME_TLS_FAILED, Phase.PHASE_TLS, { address: "2001:db8::11" })]),
    ),
    cells: [["eu-west", 25, CellState.CELL_STATE_PARTIAL, "v4 ok, v6 TLS failed"]],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_PARTIALLY_REACHABLE,
        regions: ["us-east", "eu-west"],
        summary: "Port 25 is open from us-east and eu-west on IPv4 (192.0.2.10), but IPv6 (2001:db8::10 and 2001:db8::11) is failing (TLS failed).",
      },
    ],
  },
  {
    name: "regions failing on different addresses: each named with its region, the fully reached one not",
    tasks: [
      done("us-east", 25, [ok(), ok({ address: "2001:db8::10" })]),
      done("eu-west", 25, [ok(), dropped({ address: "2001:db8::10" })]),
      done("ap-south", 25, [ok(), refused({ address: "192.0.2.11" })]),
    ],
    cells: [
      ["us-east", 25, CellState.CELL_STATE_REACHED, ""],
      ["eu-west", 25, CellState.CELL_STATE_PARTIAL, "v4 ok, v6 dropped"],
      ["ap-south", 25, CellState.CELL_STATE_PARTIAL, "1 of 2 ok, 1 refused"],
    ],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_PARTIALLY_REACHABLE,
        regions: ["eu-west", "ap-south"],
        causes: [
          ["eu-west", "IPv6 (2001:db8::10) is dropped"],
          ["ap-south", "192.0.2.11 is refused"],
        ],
        summary:
          "Port 25 is open from us-east, eu-west and ap-south, but not on every address: " +
          "from eu-west, IPv6 (2001:db8::10) is dropped; from ap-south, 192.0.2.11 is refused.",
      },
    ],
  },
  {
    name: "blocked from one region, partly reached in another: both said, every failed address listed",
    regions: ["us-east", "eu-west"],
    tasks: [
      done("us-east", 25, [ok(), refused({ address: "2001:db8::10" })]),
      done("eu-west", 25, [dropped(), dropped({ address: "2001:db8::10" })]),
    ],
    cells: [
      ["us-east", 25, CellState.CELL_STATE_PARTIAL, "v4 ok, v6 refused"],
      ["eu-west", 25, CellState.CELL_STATE_BLOCKED, "dropped"],
    ],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_BLOCKED_FROM_REGIONS,
        regions: ["eu-west"],
        causes: [["eu-west", "dropped"]],
        summary: "Port 25 is dropped from eu-west, open from us-east; from us-east, IPv6 (2001:db8::10) is refused.",
        failed: [
          ["us-east", "2001:db8::10", "refused"],
          ["eu-west", "192.0.2.10", "dropped"],
          ["eu-west", "2001:db8::10", "dropped"],
        ],
      },
    ],
  },
  {
    name: "unreachable everywhere lists every failed address",
    regions: ["local"],
    tasks: [done("local", 25, [refused({ address: "127.0.0.1" }), refused({ address: "::1" })])],
    cells: [["local", 25, CellState.CELL_STATE_BLOCKED, "refused"]],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_UNREACHABLE_EVERYWHERE,
        regions: ["local"],
        summary: "Port 25 is unreachable: refused from local.",
        failed: [
          ["local", "127.0.0.1", "refused"],
          ["local", "::1", "refused"],
        ],
      },
    ],
  },
  {
    name: "an address our side never tried (throttled, cancelled) is listed but does not make the cell partial",
    regions: ["local"],
    tasks: [
      done("local", 25, [
        ok({ address: "127.0.0.1" }),
        failed(Outcome.OUTCOME_THROTTLED, Phase.PHASE_POLICY, { address: "::1" }),
        failed(Outcome.OUTCOME_CANCELLED, Phase.PHASE_BANNER, { address: "127.0.0.2" }),
      ]),
    ],
    cells: [["local", 25, CellState.CELL_STATE_REACHED, ""]],
    verdicts: [{ port: 25, kind: K.VERDICT_KIND_REACHABLE_EVERYWHERE, regions: ["local"], summary: "Port 25 is open from local." }],
  },
  {
    name: "like with like: a region that reached IPv6 only is compared on IPv6, not with another region's IPv4",
    regions: ["us-east", "eu-west"],
    tasks: [
      done("us-east", 25, [
        ok(),
        ok({ address: "2001:db8::10", tls: { protocol: "TLSv1.3", chain: [{ subject: "CN=v6.example.com", fingerprintSha256: FP_B }] } }),
      ]),
      done("eu-west", 25, [
        refused(),
        ok({ address: "2001:db8::10", tls: { protocol: "TLSv1.3", chain: [{ subject: "CN=v6.example.com", fingerprintSha256: FP_B }] } }),
      ]),
    ],
    verdicts: [
      {
        port: 25,
        kind: K.VERDICT_KIND_PARTIALLY_REACHABLE,
        regions: ["eu-west"],
        summary: "Port 25 is open from us-east and eu-west, but not on every address: from eu-west, IPv4 (192.0.2.10) is refused.",
      },
      // No CERTIFICATE_DIFFERS: us-east's IPv4 certificate is not compared with eu-west's IPv6 one.
    ],
  },
  {
    name: "a difference on both families is said once, one on IPv6 only names the family",
    ports: [25, 587],
    regions: ["us-east", "eu-west"],
    tasks: [
      done("us-east", 25, [ok(), ok({ address: "2001:db8::10" })]),
      done("eu-west", 25, [ok({ tls: { protocol: "TLSv1.2", chain: [] } }), ok({ address: "2001:db8::10", tls: { protocol: "TLSv1.2", chain: [] } })]),
      done("us-east", 587, [ok(), ok({ address: "2001:db8::10" })]),
      done("eu-west", 587, [ok(), ok({ address: "2001:db8::10", tls: { protocol: "TLSv1.2", chain: [] } })]),
    ],
    verdicts: [
      { port: 25, kind: K.VERDICT_KIND_REACHABLE_EVERYWHERE, regions: ["us-east", "eu-west"] },
      {
        port: 25,
        kind: K.VERDICT_KIND_TLS_VERSION_DIFFERS,
        regions: ["eu-west"],
        summary:
          "Port 25: TLS is negotiated as TLSv1.3 from us-east but TLSv1.2 from eu-west: another server, or a middlebox terminating TLS, on the path from eu-west.",
      },
      { port: 587, kind: K.VERDICT_KIND_REACHABLE_EVERYWHERE, regions: ["us-east", "eu-west"] },
      {
        port: 587,
        kind: K.VERDICT_KIND_TLS_VERSION_DIFFERS,
        regions: ["eu-west"],
        summary:
          "Port 587 (IPv6): TLS is negotiated as TLSv1.3 from us-east but TLSv1.2 from eu-west: another server, or a middlebox terminating TLS, on the path from eu-west.",
      },
    ],
  },
];

function pick(v: PortVerdict, e: ExpectedVerdict): Partial<PortVerdict> {
  return {
    port: v.port,
    kind: v.kind,
    regions: v.regions,
    ...(e.causes ? { causes: v.causes } : {}),
    ...(e.severity !== undefined ? { severity: v.severity } : {}),
    ...(e.summary !== undefined ? { summary: v.summary } : {}),
    ...(e.failed ? { failedAddresses: v.failedAddresses } : {}),
  };
}

function want(e: ExpectedVerdict): Partial<PortVerdict> {
  return {
    port: e.port,
    kind: e.kind,
    regions: e.regions,
    ...(e.causes ? { causes: e.causes.map(([region, cause]) => ({ region, cause })) } : {}),
    ...(e.severity !== undefined ? { severity: e.severity } : {}),
    ...(e.summary !== undefined ? { summary: e.summary } : {}),
    ...(e.failed
      ? {
          failedAddresses: e.failed.map(([region, where, cause]) =>
            expect.objectContaining({ region, address: expect.objectContaining(isIP(where) !== 0 ? { address: where, cause } : { host: where, address: "", cause }) }),
          ),
        }
      : {}),
  };
}

describe("compareRegions", () => {
  it.each(scenarios.map((s) => [s.name, s] as const))("%s", (_name, s) => {
    const regions = s.regions ?? REGIONS;
    const ports = s.ports ?? [25];
    const comparison: Comparison = compareRegions(s.tasks, regions, ports);

    // One cell per (region, port), regions then ports.
    expect(comparison.cells.map((c) => [c.region, c.port])).toEqual(regions.flatMap((r) => ports.map((p) => [r, p])));
    for (const [region, port, state, cause] of s.cells ?? []) {
      const cell = comparison.cells.find((c) => c.region === region && c.port === port);
      expect({ region, port, state: cell?.state, cause: cell?.cause }).toEqual({ region, port, state, cause });
    }

    expect(comparison.verdicts.map((v, i) => pick(v, s.verdicts[i] ?? { port: 0, kind: 0, regions: [] }))).toEqual(s.verdicts.map(want));
    if (s.missing) expect(comparison.missing).toEqual(s.missing.map(([region, cause]) => ({ region, cause })));

    // Every address counts: no REACHABLE_EVERYWHERE while one of its regions saw an address fail.
    for (const v of comparison.verdicts.filter((x) => x.kind === K.VERDICT_KIND_REACHABLE_EVERYWHERE)) {
      const column = comparison.cells.filter((c) => c.port === v.port && v.regions.includes(c.region));
      expect(column.flatMap((c) => c.addresses.filter((a) => a.state !== CellState.CELL_STATE_REACHED && a.state !== CellState.CELL_STATE_NO_ANSWER && a.outcome !== Outcome.OUTCOME_CANCELLED))).toEqual([]);
    }

    // Every summary is one sentence naming its port, and the output is stable.
    for (const v of comparison.verdicts) {
      expect(v.summary).toMatch(new RegExp(`^Port ${v.port}\\b.*\\.$`));
      expect(v.summary).not.toMatch(/\n/);
      expect(v.severity).not.toBe(Severity.SEVERITY_UNSPECIFIED);
    }
    expect(compareRegions([...s.tasks].reverse(), regions, ports)).toEqual(comparison);
  });

  it("fills outcome, phase, time, TLS version, task status and every address in the cells", () => {
    const { cells } = compareRegions(
      [
        done("us-east", 25, [dropped({ address: "2001:db8::10", totalMs: 9000 }), ok({ totalMs: 87.5 })]),
        silent("eu-west", 25, TaskStatus.TASK_STATUS_AGENT_LOST),
      ],
      ["us-east", "eu-west"],
      [25],
    );
    expect(cells).toEqual([
      MatrixCell.fromPartial({
        region: "us-east",
        port: 25,
        // The time and TLS version of the address that answered; the state and cause of them all.
        state: CellState.CELL_STATE_PARTIAL,
        cause: "v4 ok, v6 dropped",
        outcome: Outcome.OUTCOME_OK,
        phase: Phase.PHASE_DONE,
        totalMs: 87.5,
        tlsVersion: "TLSv1.3",
        taskStatus: TaskStatus.TASK_STATUS_DONE,
        addresses: [
          {
            host: "mx.example.com",
            address: "2001:db8::10",
            family: AddressFamily.ADDRESS_FAMILY_IPV6,
            state: CellState.CELL_STATE_BLOCKED,
            cause: "dropped",
            outcome: Outcome.OUTCOME_TIMED_OUT,
            phase: Phase.PHASE_CONNECT,
            totalMs: 9000,
          },
          {
            host: "mx.example.com",
            address: "192.0.2.10",
            family: AddressFamily.ADDRESS_FAMILY_IPV4,
            state: CellState.CELL_STATE_REACHED,
            outcome: Outcome.OUTCOME_OK,
            phase: Phase.PHASE_DONE,
            totalMs: 87.5,
            tlsVersion: "TLSv1.3",
          },
        ],
      }),
      MatrixCell.fromPartial({
        region: "eu-west",
        port: 25,
        state: CellState.CELL_STATE_NO_ANSWER,
        cause: "agent lost",
        taskStatus: TaskStatus.TASK_STATUS_AGENT_LOST,
      }),
    ]);
  });

  it("an MX exchanger that failed before an address is an entry without address or family", () => {
    const { cells } = compareRegions(
      [done("us-east", 25, [failed(Outcome.OUTCOME_POLICY_DENIED, Phase.PHASE_POLICY, { host: "mx1.example.test", exchange: "mx1.example.test", mxPreference: 10, address: "" })])],
      ["us-east"],
      [25],
    );
    expect(cells[0]?.addresses).toEqual([
      expect.objectContaining({ host: "mx1.example.test", exchange: "mx1.example.test", mxPreference: 10, address: "", family: AddressFamily.ADDRESS_FAMILY_UNSPECIFIED, state: CellState.CELL_STATE_POLICY_DENIED }),
    ]);
  });

  it("ignores reports for regions and ports not asked, and prefers the DONE report of a cell", () => {
    const { cells, verdicts } = compareRegions(
      [
        done("elsewhere", 25, [dropped()]),
        done("us-east", 2525, [dropped()]),
        done("us-east", 25, [ok()]),
        silent("us-east", 25, TaskStatus.TASK_STATUS_AGENT_LOST),
      ],
      ["us-east", "us-east"],
      [25, 25],
    );
    expect(cells.map((c) => [c.region, c.port, c.state])).toEqual([["us-east", 25, CellState.CELL_STATE_REACHED]]);
    expect(verdicts.map((v) => v.kind)).toEqual([K.VERDICT_KIND_REACHABLE_EVERYWHERE]);
  });

  it("keeps server text out of the sentence's control: escapes and bounds a hostile banner", () => {
    const { verdicts } = compareRegions(
      [done("us-east", 25, [ok()]), done("eu-west", 25, [ok({ banner: { code: 220, lines: [`evil\x1b[2J${"x".repeat(200)} ESMTP`] } })])],
      ["us-east", "eu-west"],
      [25],
    );
    const banner = verdicts.find((v) => v.kind === K.VERDICT_KIND_BANNER_DIFFERS);
    expect(banner?.summary).toContain("evil\\x1b[2J");
    expect(banner?.summary).not.toContain("\x1b");
    expect(banner?.summary.length).toBeLessThan(200);
  });

  it("compares plaintext capabilities on a port with implicit TLS only through EHLO over TLS, and has no STARTTLS verdict", () => {
    const implicit = (over: DeepPartial<HandshakeResult> = {}) => ok({ capabilities: undefined, ...over });
    const { verdicts } = compareRegions(
      [
        done("us-east", 465, [implicit()]),
        done("eu-west", 465, [implicit({ capabilitiesTls: { pipelining: true, size: 10240000, authMechanisms: ["PLAIN", "LOGIN"], other: ["xclient addr"] } })]),
      ],
      ["us-east", "eu-west"],
      [465],
    );
    expect(verdicts.map((v) => [v.kind, v.regions, v.causes])).toEqual([
      [K.VERDICT_KIND_REACHABLE_EVERYWHERE, ["us-east", "eu-west"], []],
      [K.VERDICT_KIND_CAPABILITIES_DIFFER, ["eu-west"], [{ region: "eu-west", cause: "with XCLIENT ADDR" }]],
    ]);
  });

  it("is empty without regions or ports, and says no region was probed", () => {
    expect(compareRegions([], ["us-east"], [])).toEqual({ cells: [], verdicts: [], missing: [], unknownRegions: [] });
    expect(compareRegions([], [], [25]).verdicts).toEqual([
      { port: 25, kind: K.VERDICT_KIND_NO_DATA, regions: [], causes: [], summary: "Port 25: no region was probed.", severity: WARNING, failedAddresses: [] },
    ]);
  });
});

describe("describeCell", () => {
  const cell = (over: DeepPartial<MatrixCell>) => MatrixCell.fromPartial({ region: "us-east", port: 25, ...over });
  it.each([
    [cell({ state: CellState.CELL_STATE_REACHED, totalMs: 120.4, tlsVersion: "TLSv1.3" }), "✔ 120 ms TLSv1.3"],
    [cell({ state: CellState.CELL_STATE_REACHED, totalMs: 3.42 }), "✔ 3.4 ms no TLS"],
    [cell({ state: CellState.CELL_STATE_REACHED, totalMs: 2345, tlsVersion: "TLSv1.2" }), "✔ 2.35 s TLSv1.2"],
    [cell({ state: CellState.CELL_STATE_PARTIAL, cause: "v4 ok, v6 refused" }), "◐ v4 ok, v6 refused"],
    [cell({ state: CellState.CELL_STATE_BLOCKED, cause: "dropped" }), "✖ dropped"],
    [cell({ state: CellState.CELL_STATE_REJECTED, cause: "banner 554" }), "✖ banner 554"],
    [cell({ state: CellState.CELL_STATE_FAILED, cause: "TLS failed" }), "✖ TLS failed"],
    [cell({ state: CellState.CELL_STATE_NO_ANSWER, cause: "no agent" }), "– no agent"],
    [cell({}), "?"],
  ])("%#: %s", (c, text) => {
    expect(describeCell(c)).toBe(text);
  });
});

describe("familyCell", () => {
  const { ADDRESS_FAMILY_IPV4: V4, ADDRESS_FAMILY_IPV6: V6 } = AddressFamily;
  const cellOf = (task: TaskReport): MatrixCell => compareRegions([task], [task.region], [task.port]).cells[0] as MatrixCell;
  const seen = (c: MatrixCell | undefined) => c && [c.state, describeCell(c)];

  it.each<[string, TaskReport, [CellState, string] | undefined, [CellState, string] | undefined]>([
    [
      "IPv4 answered, IPv6 refused: each family its own cell",
      done("local", 25, [ok({ address: "127.0.0.1", totalMs: 12 }), refused({ address: "::1" })]),
      [CellState.CELL_STATE_REACHED, "✔ 12 ms TLSv1.3"],
      [CellState.CELL_STATE_BLOCKED, "✖ refused"],
    ],
    [
      "two exchangers on IPv4, one refused; IPv6 answered",
      done("local", 25, [
        refused({ exchange: "mx1.example.test", address: "192.0.2.1" }),
        ok({ exchange: "mx2.example.test", address: "192.0.2.2", totalMs: 30 }),
        ok({ exchange: "mx2.example.test", address: "2001:db8::2", totalMs: 40 }),
      ]),
      [CellState.CELL_STATE_PARTIAL, "◐ 1 of 2 ok, 1 refused"],
      [CellState.CELL_STATE_REACHED, "✔ 40 ms TLSv1.3"],
    ],
    [
      "no IPv6 address at all: nothing to show for IPv6",
      done("local", 25, [ok({ address: "127.0.0.1", totalMs: 12 })]),
      [CellState.CELL_STATE_REACHED, "✔ 12 ms TLSv1.3"],
      undefined,
    ],
    [
      "an exchanger that did not resolve concerns both families",
      done("local", 25, [
        failed(Outcome.OUTCOME_DNS_FAILED, Phase.PHASE_RESOLVE, { exchange: "mx1.example.test", address: "" }),
        ok({ exchange: "mx2.example.test", address: "192.0.2.2", totalMs: 30 }),
        ok({ exchange: "mx2.example.test", address: "2001:db8::2", totalMs: 40 }),
      ]),
      [CellState.CELL_STATE_PARTIAL, "◐ 1 of 2 ok, 1 DNS failed"],
      [CellState.CELL_STATE_PARTIAL, "◐ 1 of 2 ok, 1 DNS failed"],
    ],
    [
      "a name that did not resolve at all is the same cell in both families",
      done("local", 25, [failed(Outcome.OUTCOME_DNS_FAILED, Phase.PHASE_RESOLVE, { address: "" })]),
      [CellState.CELL_STATE_DNS_FAILED, "✖ DNS failed"],
      [CellState.CELL_STATE_DNS_FAILED, "✖ DNS failed"],
    ],
  ])("%s", (_, task, v4, v6) => {
    const cell = cellOf(task);
    expect([seen(familyCell(cell, V4)), seen(familyCell(cell, V6))]).toEqual([v4, v6]);
  });

  it("a cell without an answer is the same in both families", () => {
    const cell = cellOf(silent("local", 25, TaskStatus.TASK_STATUS_NO_AGENT));
    expect(familyCell(cell, V4)).toBe(cell);
    expect(familyCell(cell, V6)).toBe(cell);
  });
});
