import { describe, expect, it } from "vitest";
import { PermitRequest } from "../../../../gen/smtpprobe/agent/v1/agent.js";
import { checkRequest } from "../../../../services/coordinator/permit-service.js";

const valid = { taskId: "t1", probeId: "p1", address: "198.51.100.7", port: 25, deadline: new Date(Date.now() + 5_000) };

describe("checkRequest (a PermitRequest from an agent)", () => {
  it.each<[string, Partial<PermitRequest>, string | undefined]>([
    ["a valid IPv4 request", {}, undefined],
    ["an IPv6 address", { address: "2001:db8::1" }, undefined],
    ["a host name", { address: "mail.example" }, 'address: not an IP address: "mail.example"'],
    ["an address with a zone id", { address: "fe80::1%eth0" }, 'address: not an IP address: "fe80::1%eth0"'],
    ["an empty address", { address: "" }, 'address: not an IP address: ""'],
    ["an overlong address", { address: "1".repeat(100) }, `address: not an IP address: "${"1".repeat(64)}"`],
    ["port 0", { port: 0 }, "port: must be from 1 to 65535, not 0"],
    ["port 65536", { port: 65_536 }, "port: must be from 1 to 65535, not 65536"],
    ["no deadline", { deadline: undefined }, "deadline: missing"],
    ["an overlong task id", { taskId: "t".repeat(129) }, "task_id: longer than 128 characters"],
    ["an overlong probe id", { probeId: "p".repeat(129) }, "probe_id: longer than 128 characters"],
  ])("%s", (_name, change, expected) => {
    expect(checkRequest(PermitRequest.fromPartial({ ...valid, ...change }))).toBe(expected);
  });
});
