// The agent's domain-check service on an in-process bus: a task over its byte bound, and a task
// beyond its concurrency, are answered with an error at once, not run.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentResolver } from "../../../../agents/dns/agent-resolver.js";
import { serveDomainChecks, type DomainService } from "../../../../agents/probe/domain-service.js";
import { DomainTask, DomainTaskReply } from "../../../../gen/smtpprobe/agent/v1/agent.js";
import { SUBJECTS } from "../../../../lib/bus.js";
import { silentLogger } from "../../../../lib/logger.js";
import { MemoryBus } from "../../../../lib/memory-bus.js";
import { startDnsServer, type DnsServer } from "../../../helpers/dns-server.js";

let dns: DnsServer;
let bus: MemoryBus;
let resolver: AgentResolver;
let service: DomainService;
beforeAll(async () => {
  // Every question is dropped: a check runs until its deadline.
  dns = await startDnsServer({ "slow.test": { behavior: "drop" } });
  bus = new MemoryBus();
  resolver = new AgentResolver({ servers: [dns.server], timeoutMs: 2_000 });
  service = serveDomainChecks({ bus, region: "r1", agentId: "agent-1", resolver, logger: silentLogger(), concurrency: 1 });
});
afterAll(async () => {
  service?.stop();
  await dns?.stop();
});

const ask = (data: Uint8Array): Promise<DomainTaskReply> =>
  new Promise((resolve, reject) => {
    bus.request(SUBJECTS.domain("r1"), data, (event) => (event.kind === "message" ? resolve(DomainTaskReply.decode(event.data)) : reject(new Error(event.kind))));
  });

const task = (deadlineMs: number): Uint8Array =>
  DomainTask.encode({
    checkId: "c1",
    region: "r1",
    deadlineMs,
    request: { domain: "slow.test", dkimSelectors: [], commonDkimSelectors: false, regions: [], blocklistZones: [], skipBlocklists: true, deadlineMs },
  }).finish();

describe("serveDomainChecks", () => {
  it("answers a task over 64 KiB with an error, without decoding it", async () => {
    const reply = await ask(new Uint8Array(64 * 1024 + 1));
    expect(reply.error).toBe(`task of ${64 * 1024 + 1} bytes, over ${64 * 1024}`);
    expect(reply.posture).toBeUndefined();
  });

  it("answers a task beyond its concurrency with an error at once, and runs the one within", async () => {
    let firstAnswered = false;
    const first = ask(task(600)).finally(() => {
      firstAnswered = true;
    });
    const second = await ask(task(600));
    expect(second.error).toBe("the agent runs 1 domain checks already");
    expect(firstAnswered).toBe(false);
    const reply = await first;
    expect(reply.error).toBeUndefined();
    expect(reply.posture?.domain).toBe("slow.test");
  });
});
