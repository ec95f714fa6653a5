// The regional differences of the posture option: the reverse DNS of the server reached, and the
// blocklists that list it, as each region saw them.
import { describe, expect, it } from "vitest";
import type { AddressPosture } from "../../../../gen/smtpprobe/v1/address_posture.js";
import { type DeepPartial, HandshakeResult, Outcome, Phase, Severity } from "../../../../gen/smtpprobe/v1/handshake.js";
import { VerdictKind } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { differenceVerdicts, type ReachedRegion } from "../../../../services/coordinator/compare-differences.js";

function region(name: string, addressPosture: DeepPartial<AddressPosture> | undefined): ReachedRegion {
  return {
    region: name,
    handshakes: [HandshakeResult.fromPartial({ host: "mx.example.com", address: "192.0.2.10", port: 25, outcome: Outcome.OUTCOME_OK, phase: Phase.PHASE_DONE, addressPosture })],
  };
}
const posture = (ptr: string[], confirmed: boolean, listedIn: string[], zones = ["bl.example", "other.example"]): DeepPartial<AddressPosture> => ({
  address: "192.0.2.10",
  reverseDns: { ptrNames: ptr, forwardConfirmed: confirmed, confirmedName: confirmed ? ptr[0] : "", error: ptr.length === 0 ? "no PTR record at 10.2.0.192.in-addr.arpa" : "" },
  blocklists: zones.map((zone) => ({ zone, listed: listedIn.includes(zone), codes: listedIn.includes(zone) ? ["127.0.0.2"] : [], reason: "", error: "" })),
});
const of = (reached: ReachedRegion[], kind: VerdictKind) => differenceVerdicts(25, reached).filter((v) => v.kind === kind);

describe("the posture differences", () => {
  it("say nothing when every region sees the same, or has no posture", () => {
    const same = [region("us", posture(["mx.example.com"], true, [])), region("eu", posture(["mx.example.com"], true, []))];
    expect(of(same, VerdictKind.VERDICT_KIND_REVERSE_DNS_DIFFERS)).toEqual([]);
    expect(of(same, VerdictKind.VERDICT_KIND_BLOCKLIST_DIFFERS)).toEqual([]);
    expect(differenceVerdicts(25, [region("us", undefined), region("eu", undefined)])).toEqual([]);
  });

  it("name the region whose view differs, and how", () => {
    const reached = [
      region("us", posture(["mx.example.com"], true, [])),
      region("eu", posture(["mx.example.com"], true, [])),
      region("ap", posture(["other.example.net"], false, ["bl.example"])),
    ];
    const [rdns] = of(reached, VerdictKind.VERDICT_KIND_REVERSE_DNS_DIFFERS);
    expect(rdns).toMatchObject({ regions: ["ap"], severity: Severity.SEVERITY_INFO, causes: [{ region: "ap", cause: "reverse DNS other.example.net (not forward-confirmed), not mx.example.com" }] });
    const [listing] = of(reached, VerdictKind.VERDICT_KIND_BLOCKLIST_DIFFERS);
    expect(listing).toMatchObject({ regions: ["ap"], severity: Severity.SEVERITY_WARNING });
    expect(listing?.summary).toBe(
      "Port 25: the server reached is listed nowhere from us and eu but listed in bl.example from ap: other servers, or blocklist answers that differ by resolver.",
    );
  });

  it("leave out a region whose lists did not answer", () => {
    const failed = { address: "192.0.2.10", blocklists: [{ zone: "bl.example", listed: false, codes: ["127.255.255.254"], reason: "", error: "refused" }] };
    const reached = [region("us", posture(["mx.example.com"], true, ["bl.example"], ["bl.example"])), region("eu", failed)];
    expect(of(reached, VerdictKind.VERDICT_KIND_BLOCKLIST_DIFFERS)).toEqual([]);
  });
});
