// The regional difference of TLS profiles: the versions (and, where every scan is complete, the
// cipher grades) a sender in each region can negotiate.
import { describe, expect, it } from "vitest";
import {
  CipherGrade,
  type DeepPartial,
  HandshakeResult,
  Outcome,
  Phase,
  Severity,
  type TlsProfile,
  TlsScanStatus,
  TlsVersion,
  VersionSupport,
} from "../../../../gen/smtpprobe/v1/handshake.js";
import { VerdictKind } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { differenceVerdicts, type ReachedRegion } from "../../../../services/coordinator/compare-differences.js";

const { V10, V12, V13 } = { V10: TlsVersion.TLS_VERSION_TLS_1_0, V12: TlsVersion.TLS_VERSION_TLS_1_2, V13: TlsVersion.TLS_VERSION_TLS_1_3 };
const ALL = [TlsVersion.TLS_VERSION_SSL_3_0, V10, TlsVersion.TLS_VERSION_TLS_1_1, V12, V13];

/** Accepted versions with the grade of their one suite; the others refused (or unknown). */
function profile(accepted: Partial<Record<TlsVersion, CipherGrade>>, over: Partial<TlsProfile> = {}, unknown: TlsVersion[] = []): DeepPartial<TlsProfile> {
  return {
    status: TlsScanStatus.TLS_SCAN_STATUS_COMPLETE,
    versions: ALL.map((version) => ({
      version,
      support: unknown.includes(version) ? VersionSupport.VERSION_SUPPORT_UNKNOWN : accepted[version] ? VersionSupport.VERSION_SUPPORT_ACCEPTED : VersionSupport.VERSION_SUPPORT_REFUSED,
      ciphers: accepted[version] ? [{ codePoint: 1, name: "x", grade: accepted[version] }] : [],
    })),
    ...over,
  };
}

function region(name: string, tlsProfile: DeepPartial<TlsProfile> | undefined): ReachedRegion {
  return {
    region: name,
    handshakes: [HandshakeResult.fromPartial({ host: "mx.example.com", address: "192.0.2.10", port: 25, outcome: Outcome.OUTCOME_OK, phase: Phase.PHASE_DONE, tlsProfile })],
  };
}

const STRONG = CipherGrade.CIPHER_GRADE_STRONG;
const MODERN = { [V12]: STRONG, [V13]: STRONG };

function profileVerdicts(reached: ReachedRegion[]) {
  return differenceVerdicts(25, reached).filter((v) => v.kind === VerdictKind.VERDICT_KIND_TLS_PROFILE_DIFFERS);
}

describe("the TLS profile difference", () => {
  it("says what a sender in each region can negotiate when a region loses TLS 1.3 (a middlebox that strips it)", () => {
    const verdicts = profileVerdicts([region("us-east", profile(MODERN)), region("eu-west", profile({ [V12]: STRONG })), region("ap-south", profile(MODERN))]);
    expect(verdicts).toEqual([
      {
        port: 25,
        kind: VerdictKind.VERDICT_KIND_TLS_PROFILE_DIFFERS,
        severity: Severity.SEVERITY_WARNING,
        regions: ["eu-west"],
        causes: [{ region: "eu-west", cause: "TLS 1.2, not TLS 1.2 and TLS 1.3" }],
        summary:
          "Port 25: the TLS scan differs between regions: a sender in us-east and ap-south can negotiate TLS 1.2 and TLS 1.3, and a sender in eu-west can negotiate TLS 1.2: " +
          "a middlebox that terminates or filters TLS, or another server, on the path from eu-west.",
        failedAddresses: [],
      },
    ]);
  });

  it("compares the cipher grades too when every scan is complete", () => {
    const verdicts = profileVerdicts([region("us-east", profile(MODERN)), region("eu-west", profile({ [V12]: CipherGrade.CIPHER_GRADE_INSECURE, [V13]: STRONG }))]);
    expect(verdicts).toHaveLength(1);
    expect(verdicts[0]!.causes).toEqual([{ region: "eu-west", cause: "TLS 1.2 and TLS 1.3 (insecure suites in TLS 1.2), not TLS 1.2 and TLS 1.3" }]);
  });

  it("compares versions only when a scan is partial: its grades may be unfinished", () => {
    const partial = profile({ [V12]: CipherGrade.CIPHER_GRADE_WEAK, [V13]: STRONG }, { status: TlsScanStatus.TLS_SCAN_STATUS_PARTIAL });
    expect(profileVerdicts([region("us-east", profile(MODERN)), region("eu-west", partial)])).toEqual([]);
  });

  it("finds no difference in the same profile, nor with a region whose versions are not all known or not scanned", () => {
    expect(profileVerdicts([region("us-east", profile(MODERN)), region("eu-west", profile(MODERN))])).toEqual([]);
    expect(profileVerdicts([region("us-east", profile(MODERN)), region("eu-west", profile({ [V12]: STRONG }, {}, [V13]))])).toEqual([]);
    expect(profileVerdicts([region("us-east", profile(MODERN)), region("eu-west", { status: TlsScanStatus.TLS_SCAN_STATUS_NOT_SCANNED, reason: "STARTTLS is not offered" })])).toEqual([]);
    expect(profileVerdicts([region("us-east", profile(MODERN)), region("eu-west", undefined)])).toEqual([]);
  });

  it("names a region where no version is accepted", () => {
    const verdicts = profileVerdicts([region("us-east", profile(MODERN)), region("eu-west", profile({}))]);
    expect(verdicts[0]!.summary).toContain("a sender in eu-west can negotiate no TLS version");
  });
});
