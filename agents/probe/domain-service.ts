// The agent's side of the domain check: DomainTasks on smtpprobe.v1.domain.<region> (the region's
// queue group, so one agent takes each), run with the agent's resolver (its --dns-server settings,
// its cache shared by every check it runs), answered once with the posture. A check answers by its
// deadline with what it has read by then. At most `concurrency` checks at once; beyond, a task is
// answered with an error at once rather than queued past its deadline.
import { DomainTask, DomainTaskReply } from "../../gen/smtpprobe/agent/v1/agent.js";
import { SUBJECTS, type Bus, type BusMessage, type BusSubscription } from "../../lib/bus.js";
import type { Logger } from "../../lib/logger.js";
import { AgentResolver } from "../dns/agent-resolver.js";
import { checkDomain } from "../posture/domain-check.js";

/** A task's bytes are checked before decoding. */
const MAX_TASK_BYTES = 64 * 1024;
/** The agent keeps this much of the deadline for its answer's way back. */
const REPLY_MARGIN_MS = 100;

export interface DomainServiceOptions {
  bus: Bus;
  region: string;
  agentId: string;
  dnsServers?: readonly string[];
  logger: Logger;
  concurrency?: number;
  /** False (--blocklists off): no blocklist is asked, whatever the task says. */
  blocklists?: boolean;
  /** The agent's resolver, its cache shared with the agent's other DNS readers (default a new one); cancelled at stop. */
  resolver?: AgentResolver;
}

export interface DomainService {
  stop(): void;
}

export function serveDomainChecks(options: DomainServiceOptions): DomainService {
  const resolver = options.resolver ?? new AgentResolver({ servers: options.dnsServers ?? [] });
  const limit = options.concurrency ?? 8;
  let running = 0;
  const reply = (msg: BusMessage, body: Pick<DomainTaskReply, "posture" | "error">): void => {
    msg.respond(DomainTaskReply.encode({ agentId: options.agentId, ...body }).finish());
  };
  const onTask = (msg: BusMessage): void => {
    if (msg.data.byteLength > MAX_TASK_BYTES) return reply(msg, { error: `task of ${msg.data.byteLength} bytes, over ${MAX_TASK_BYTES}` });
    let task: DomainTask;
    try {
      task = DomainTask.decode(msg.data);
    } catch (error) {
      return reply(msg, { error: `not a DomainTask: ${String(error)}` });
    }
    const request = task.request;
    if (!request || request.domain === "" || task.region !== options.region) return reply(msg, { error: "a DomainTask without a domain, or for another region" });
    if (running >= limit) return reply(msg, { error: `the agent runs ${limit} domain checks already` });
    running += 1;
    const deadlineAt = Date.now() + Math.max(0, task.deadlineMs - REPLY_MARGIN_MS);
    checkDomain(
      {
        domain: request.domain,
        dkimSelectors: request.dkimSelectors,
        commonDkimSelectors: request.commonDkimSelectors,
        region: options.region,
        blocklistZones: request.skipBlocklists || options.blocklists === false ? [] : request.blocklistZones,
      },
      resolver,
      { deadlineAt },
    )
      .then((posture) => reply(msg, { posture }))
      .catch((error: unknown) => {
        // Only a bug gets here: a domain that misbehaves is data in the posture.
        options.logger.error({ err: error, checkId: task.checkId }, "domain check failed");
        reply(msg, { error: "internal error in the agent's domain check" });
      })
      .finally(() => {
        running -= 1;
      });
  };
  const subscription: BusSubscription = options.bus.subscribe(SUBJECTS.domain(options.region), onTask, { queue: SUBJECTS.queue(options.region) });
  return {
    stop() {
      subscription.unsubscribe();
      resolver.cancel();
    },
  };
}
