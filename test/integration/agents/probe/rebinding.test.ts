// DNS rebinding against the engine, with proof on the wire (root: a network namespace and nft).
//
// A lab (scripts/lab/lab-network.ts) namespace "target" holds 198.19.x.100 and 198.19.x.101,
// an smtp-server listening on port 25 of both, and nft counters on its input of each: a probe that
// connected to the forbidden address would be counted. The policy allowlists 198.19.x.100/32
// only, so .101 stays denied (198.18.0.0/15, benchmarking). The test's DNS server (127.0.0.1)
// answers rebind.test with .100 first, then with .101, then with 127.0.0.1: the first probe
// works, the rebound ones are denied, and the counter of .101 stays at zero. The engine runs in
// this process (host namespace), reaching the lab over its bridge.
//
// The agent's own-address rule is checked on the same wire: the bridge's address 198.19.x.1 is
// this machine's own, so it is denied although an allowlisted /24 holds it.
import net from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOwnAddresses } from "../../../../lib/policy/own-addresses.js";
import { createTargetPolicy } from "../../../../lib/policy/target-policy.js";
import { resolveOptions } from "../../../../agents/smtp/options.js";
import { probeTarget } from "../../../../agents/smtp/probe-target.js";
import type { TargetPolicy } from "../../../../lib/policy/policy-types.js";
import { FailureSource, Outcome, Phase, ProbeOptions, TlsMode } from "../../../../gen/smtpprobe/v1/handshake.js";
import { testPki } from "../../../helpers/certs.js";
import { startDnsServer, type DnsServer, type Zone } from "../../../helpers/dns-server.js";
import { createLab, type Lab, type LabHost } from "../../../../scripts/lab/lab-network.js";
import { keepTestRangeLocal, netnsAvailable } from "../../../../scripts/lab/netns-support.js";
import { need } from "../../../helpers/requirements.js";
import { withTimeout } from "../../../helpers/wait.js";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const TARGET_SCRIPT = fileURLToPath(new URL("../../../../scripts/lab/smtp-target.ts", import.meta.url));
const READY_MS = 30_000;

const requirement = await need(netnsAvailable);

describe.skipIf(requirement.skip)("DNS rebinding: the address connected to is the address checked (netns, nft counters)", () => {
  let lab: Lab;
  let target: LabHost;
  let dns: DnsServer;
  let allowed: string;
  let forbidden: string;
  const zone: Zone = {};

  beforeAll(async () => {
    await keepTestRangeLocal();
    lab = await createLab({ subnet: 40 });
    allowed = lab.address(100);
    forbidden = lab.address(101);
    const [host, pki] = await Promise.all([lab.addHost("rebind", 100, { extra: [101] }), testPki()]);
    target = host;
    const tls = await pki.leaf({ names: ["rebind.test", allowed, forbidden] });
    // Counters on the target's input: every packet to each address, whatever the port.
    await target.nft(
      [
        "table inet rebind {",
        "  counter to_allowed {}",
        "  counter to_forbidden {}",
        "  chain input {",
        "    type filter hook input priority 0; policy accept;",
        `    ip daddr ${allowed} counter name to_allowed`,
        `    ip daddr ${forbidden} counter name to_forbidden`,
        "  }",
        "}",
        "",
      ].join("\n"),
    );
    const smtp = target.spawn("smtp rebind", process.execPath, ["--import", "tsx", TARGET_SCRIPT, JSON.stringify({ name: "rebind.test", listen: [`${allowed}:25`, `${forbidden}:25`], tls })], {
      lifeline: true,
      cwd: ROOT,
    });
    zone["rebind.test"] = { A: [allowed] };
    zone["own.test"] = { A: [lab.gateway] };
    [dns] = await Promise.all([startDnsServer(zone, { ttl: 0 }), smtp.waitForOutput(/^READY$/m, READY_MS)]);
  }, READY_MS + 10_000);

  afterAll(async () => {
    await dns?.stop();
    await lab?.stop();
  });

  /** The DNS server holds the zone's entry objects: changing one changes its next answer. */
  const answer = (addresses: string[]): void => {
    zone["rebind.test"]!.A = addresses;
  };

  async function packetsTo(counter: "to_allowed" | "to_forbidden"): Promise<number> {
    const out = await target.exec("nft", ["-j", "list", "counter", "inet", "rebind", counter]);
    const parsed = JSON.parse(out) as { nftables: { counter?: { packets: number } }[] };
    const found = parsed.nftables.find((item) => item.counter !== undefined)?.counter;
    if (!found) throw new Error(`no counter ${counter} in ${out}`);
    return found.packets;
  }

  const probe = (host: string, policy: TargetPolicy) =>
    probeTarget(
      { host, port: 25 },
      resolveOptions(ProbeOptions.fromPartial({ tlsMode: TlsMode.TLS_MODE_NONE, timeouts: { connectMs: 2000, bannerMs: 2000, commandMs: 2000, deadlineMs: 8000 } }), 25, "probe.test"),
      { dnsServers: [dns.server], policy },
    );

  it("probes the first answer, denies the rebound ones, and not one packet reaches the forbidden address", async () => {
    const policy = createTargetPolicy({ allowCidrs: [`${allowed}/32`], allowPorts: [25], ownAddresses: createOwnAddresses() });

    const first = await probe("rebind.test", policy);
    expect(first.handshakes.map((h) => [h.address, Outcome[h.outcome], h.reason])).toEqual([[allowed, "OUTCOME_OK", ""]]);
    expect(await packetsTo("to_allowed")).toBeGreaterThan(0);

    answer([forbidden]);
    const rebound = await probe("rebind.test", policy);
    expect(rebound.handshakes).toHaveLength(1);
    expect(rebound.handshakes[0]).toMatchObject({
      address: forbidden,
      outcome: Outcome.OUTCOME_POLICY_DENIED,
      phase: Phase.PHASE_POLICY,
      failureSource: FailureSource.FAILURE_SOURCE_POLICY,
      reason: `the target policy forbids ${forbidden} port 25: ${forbidden} is a benchmarking address (198.18.0.0/15)`,
    });

    answer(["127.0.0.1"]);
    const toLoopback = await probe("rebind.test", policy);
    expect(toLoopback.handshakes.map((h) => [h.address, Outcome[h.outcome]])).toEqual([["127.0.0.1", "OUTCOME_POLICY_DENIED"]]);
    expect(toLoopback.handshakes[0]?.reason).toContain("127.0.0.1 is a loopback address (127.0.0.0/8)");

    // Both answers at once: the allowed one is probed, the forbidden one is not.
    answer([allowed, forbidden]);
    const both = await probe("rebind.test", policy);
    expect(both.handshakes.map((h) => [h.address, Outcome[h.outcome]]).sort()).toEqual([
      [allowed, "OUTCOME_OK"],
      [forbidden, "OUTCOME_POLICY_DENIED"],
    ]);

    expect(await packetsTo("to_forbidden")).toBe(0);

    // The control: the counter does count a connection to the forbidden address (the test's own).
    const socket = net.connect({ host: forbidden, port: 25 });
    await withTimeout(new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject)), 5_000, "control connection");
    socket.destroy();
    expect(await packetsTo("to_forbidden")).toBeGreaterThan(0);
  });

  it("denies this machine's own address although an allowlisted range holds it", async () => {
    const subnet = `${lab.address(100).replace(/\.\d+$/, ".0")}/24`;
    const policy = createTargetPolicy({ allowCidrs: [subnet], allowPorts: [25], ownAddresses: createOwnAddresses() });
    answer([allowed]);
    const own = await probe("own.test", policy);
    expect(own.handshakes.map((h) => [h.address, Outcome[h.outcome], h.reason])).toEqual([
      [
        lab.gateway,
        "OUTCOME_POLICY_DENIED",
        `the target policy forbids ${lab.gateway} port 25: ${lab.gateway} is an address of this agent's own interfaces (${lab.gateway}); only --allow-cidr ${lab.gateway}/32 allows it`,
      ],
    ]);
    expect((await probe("rebind.test", policy)).handshakes.map((h) => Outcome[h.outcome])).toEqual(["OUTCOME_OK"]);
    const exact = createTargetPolicy({ allowCidrs: [subnet, `${lab.gateway}/32`], allowPorts: [25], ownAddresses: createOwnAddresses() });
    // Allowed by name: nothing listens on the gateway's port 25, so the connection is refused, not denied.
    expect((await probe("own.test", exact)).handshakes.map((h) => Outcome[h.outcome])).toEqual(["OUTCOME_REFUSED"]);
  });
});
