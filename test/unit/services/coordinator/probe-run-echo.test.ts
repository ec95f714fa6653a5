// The accepted request as the report echoes it (probe-run.ts withDeadline): the deadline the probe
// ran with, everything else as accepted, and the accepted request itself left as it was.
import { describe, expect, it } from "vitest";
import { ProbeRequest } from "../../../../gen/smtpprobe/v1/probe_service.js";
import { withDeadline } from "../../../../services/coordinator/probe-run.js";
import { validateProbeRequest } from "../../../../services/coordinator/validate-request.js";

function accepted(input: Parameters<typeof ProbeRequest.fromPartial>[0]): ProbeRequest {
  const result = validateProbeRequest(ProbeRequest.fromPartial(input));
  if (!result.ok) throw new Error(JSON.stringify(result.violations));
  return result.value.accepted;
}

describe("withDeadline", () => {
  it.each<[string, ProbeRequest]>([
    ["defaults", accepted({ host: "mx.example.test" })],
    ["timeouts given", accepted({ host: "mx.example.test", ports: [25, 587], regions: ["eu"], options: { timeouts: { bannerMs: 5_000, deadlineMs: 20_000 } } })],
    ["no options at all", ProbeRequest.fromPartial({ host: "mx.example.test" })],
  ])("%s: the deadline replaced, the rest as accepted, the input unchanged", (_, request) => {
    const before = ProbeRequest.toJSON(request);
    const echo = withDeadline(request, 1_234);
    const expected = ProbeRequest.fromPartial(request);
    if (expected.options) expected.options.timeouts = { connectMs: 0, bannerMs: 0, commandMs: 0, tlsMs: 0, ...expected.options.timeouts, deadlineMs: 1_234 };
    expect(ProbeRequest.toJSON(echo)).toEqual(ProbeRequest.toJSON(expected));
    expect(ProbeRequest.toJSON(request)).toEqual(before);
  });
});
