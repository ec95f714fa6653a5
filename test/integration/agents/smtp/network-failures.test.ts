import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailureSource, Outcome, Phase, TlsMode } from "../../../../gen/smtpprobe/v1/handshake.js";
import { netnsAvailable } from "../../../../scripts/lab/netns-support.js";
import { createBlackholeHost, type BlackholeHost } from "../../../helpers/netns.js";
import { need } from "../../../helpers/requirements.js";
import { endsBy } from "../../../helpers/timing.js";
import { probeOnce } from "./probe-helpers.js";

// A host in a network namespace (198.18.0.0/15, RFC 2544's lab range) whose nftables rules drop,
// reset or answer "unreachable" per port: the three ways a path fails look different.
const netns = await need(netnsAvailable);
const CONNECT_MS = 300;

describe.skipIf(netns.skip)("network failures, from a namespace with nftables rules (root)", () => {
  let host: BlackholeHost;
  beforeAll(async () => {
    host = await createBlackholeHost({ drop: [25], reset: [2525], unreachable: [465] });
  });
  afterAll(async () => {
    await host?.stop();
  });

  it.each([
    [25, "dropped", Outcome.OUTCOME_TIMED_OUT, new RegExp(`timed out after ${CONNECT_MS} ms`)],
    [2525, "reset", Outcome.OUTCOME_REFUSED, /refused/],
    [465, "host-unreachable", Outcome.OUTCOME_UNREACHABLE, /unreachable/],
  ])("port %i %s", async (port, _how, outcome, reason) => {
    const began = performance.now();
    const r = await probeOnce(port, { tlsMode: TlsMode.TLS_MODE_AUTO, timeouts: { connectMs: CONNECT_MS } }, {}, host.address);
    expect(Outcome[r.outcome]).toBe(Outcome[outcome]);
    expect(r.phase).toBe(Phase.PHASE_CONNECT);
    expect(r.reason).toMatch(reason);
    expect(r.failureSource).toBe(outcome === Outcome.OUTCOME_REFUSED ? FailureSource.FAILURE_SOURCE_TARGET : FailureSource.FAILURE_SOURCE_NETWORK);
    // Each ends by the connect timeout, never at the probe deadline (FAST: 5 s).
    expect(performance.now() - began).toBeLessThan(endsBy(CONNECT_MS));
  });
});
