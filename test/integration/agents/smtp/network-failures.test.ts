import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailureSource, Outcome, Phase, TlsMode } from "../../../../gen/smtpprobe/v1/handshake.js";
import { createBlackholeHost, netnsAvailable, type BlackholeHost } from "../../../helpers/netns.js";
import { need } from "../../../helpers/requirements.js";
import { probeOnce } from "./probe-helpers.js";

// A host in a network namespace (198.18.0.0/15, RFC 2544's lab range) whose nftables rules drop,
// reset or answer "unreachable" per port: the three ways a path fails look different.
const netns = await need(netnsAvailable);

describe.skipIf(netns.skip)("network failures, from a namespace with nftables rules (root)", () => {
  let host: BlackholeHost;
  beforeAll(async () => {
    host = await createBlackholeHost({ drop: [25], reset: [2525], unreachable: [465] });
  });
  afterAll(async () => {
    await host?.stop();
  });

  it.each([
    [25, "dropped", Outcome.OUTCOME_TIMED_OUT, /timed out after 300 ms/],
    [2525, "reset", Outcome.OUTCOME_REFUSED, /refused/],
    [465, "host-unreachable", Outcome.OUTCOME_UNREACHABLE, /unreachable/],
  ])("port %i %s", async (port, _how, outcome, reason) => {
    const began = performance.now();
    const r = await probeOnce(port, { tlsMode: TlsMode.TLS_MODE_AUTO, timeouts: { connectMs: 300 } }, {}, host.address);
    expect(Outcome[r.outcome]).toBe(Outcome[outcome]);
    expect(r.phase).toBe(Phase.PHASE_CONNECT);
    expect(r.reason).toMatch(reason);
    expect(r.failureSource).toBe(outcome === Outcome.OUTCOME_REFUSED ? FailureSource.FAILURE_SOURCE_TARGET : FailureSource.FAILURE_SOURCE_NETWORK);
    expect(performance.now() - began).toBeLessThan(1500);
  });
});
