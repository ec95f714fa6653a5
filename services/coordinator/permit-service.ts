// The coordinator's side of the permit protocol: agents of every region ask before each connection
// (a PermitRequest to smtpprobe.v1.permit.<region>, with a reply subject) and give the slot back
// when it ends (a PermitRelease, no reply). The destination throttle decides; this module only
// checks what arrives (agents are not trusted: globalping's lesson) and carries the answers.
//
// Requests reach one coordinator (a queue group); releases reach all (a plain subscription), and
// each coordinator ends only leases it granted (lease ids carry its instance id). A task to an IP
// literal may carry its permit already (grantWithTask, from the dispatch): the same throttle, no
// round trip, and the lease ends when the task's answer comes. The counts are
// per coordinator instance: the deployment runs one, which then sees every region and caller.
import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { PermitMessage, PermitReply, type PermitRequest } from "../../gen/smtpprobe/agent/v1/agent.js";
import { REGION_TOKEN, SUBJECTS, type Bus, type BusMessage, type BusSubscription } from "../../lib/bus.js";
import type { Logger } from "../../lib/logger.js";
import { metrics } from "../../lib/metrics.js";
import { MAX_LEASE_MS, type DestinationThrottle } from "./destination-throttle.js";
import { isPort } from "../../lib/host-name.js";

/** Bounds on a permit message: a well-formed one is under 400 bytes. */
export const PERMIT_LIMITS = { maxMessageBytes: 4096, maxIdChars: 128, maxAddressChars: 64, maxLeaseIdChars: 64 } as const;

const SUBJECT_PREFIX = SUBJECTS.permitAll.slice(0, -1);

export interface PermitService {
  /**
   * A permit granted with a task, for its one connection to an IP literal: a lease id when a slot
   * is free now (held until `deadline` plus the throttle's grace at most), else undefined and the
   * agent asks as usual. The same throttle and the same counts as a PermitRequest.
   */
  grantWithTask(address: string, deadline: Date): string | undefined;
  /** Ends a lease granted with a task (the task's answer came); unknown or ended leases are ignored. */
  releaseTaskLease(leaseId: string): void;
  stop(): void;
}

export function startPermitService(deps: { bus: Bus; throttle: DestinationThrottle; logger: Logger }): PermitService {
  const { bus, throttle } = deps;
  const log = deps.logger.child({ component: "permit" });
  const instance = randomBytes(6).toString("hex");
  const pending = new Set<AbortController>();

  const drop = (reason: "undecodable" | "invalid" | "too_large", subject: string, problem: string): void => {
    metrics.agentMessagesDropped.inc({ reason });
    log.warn({ subject, reason, problem }, "permit message dropped");
  };

  /** The region and message, or undefined when dropped (counted once: by the release subscription). */
  const decode = (msg: BusMessage, count: boolean): { region: string; message: PermitMessage } | undefined => {
    const region = msg.subject.startsWith(SUBJECT_PREFIX) ? msg.subject.slice(SUBJECT_PREFIX.length) : "";
    if (!REGION_TOKEN.test(region)) {
      if (count) drop("invalid", msg.subject, "subject: not smtpprobe.v1.permit.<region>");
      return undefined;
    }
    if (msg.data.length > PERMIT_LIMITS.maxMessageBytes) {
      if (count) drop("too_large", msg.subject, `${msg.data.length} bytes, over ${PERMIT_LIMITS.maxMessageBytes}`);
      return undefined;
    }
    try {
      return { region, message: PermitMessage.decode(msg.data) };
    } catch (error) {
      if (count) drop("undecodable", msg.subject, error instanceof Error ? error.message : String(error));
      return undefined;
    }
  };

  const onRequest = (msg: BusMessage): void => {
    const decoded = decode(msg, false);
    const request = decoded?.message.request;
    if (!decoded || !request) return; // a release, or dropped (and counted) by the other subscription
    const problem = checkRequest(request);
    if (problem) {
      drop("invalid", msg.subject, problem);
      return;
    }
    // The agent's deadline is wall-clock time; the throttle runs on the monotonic clock.
    const waitMs = Math.min(request.deadline!.getTime() - Date.now(), MAX_LEASE_MS);
    const controller = new AbortController();
    pending.add(controller);
    const asked = performance.now();
    void throttle.acquire(request.address, asked + waitMs, controller.signal).then((answer) => {
      pending.delete(controller);
      const context = { region: decoded.region, taskId: request.taskId, probeId: request.probeId, address: request.address, port: request.port };
      const reply = answer.granted
        ? PermitReply.fromPartial({ granted: true, leaseId: `${instance}.${answer.leaseId}` })
        : PermitReply.fromPartial({ granted: false, reason: answer.reason });
      let sent = false;
      try {
        sent = msg.respond(PermitReply.encode(reply).finish());
      } catch (error) {
        log.warn({ ...context, err: error }, "could not answer a permit request");
      }
      if (answer.granted && !sent) throttle.release(answer.leaseId);
      if (!answer.granted) {
        metrics.requestsRejected.inc({ reason: "destination_throttle" });
        log.info({ ...context, reason: answer.reason }, "connection throttled");
      } else {
        log.debug({ ...context, waitedMs: Math.round(performance.now() - asked) }, "connection permitted");
      }
    });
  };

  const onRelease = (msg: BusMessage): void => {
    const decoded = decode(msg, true);
    if (!decoded) return;
    const { request, release } = decoded.message;
    if (request) return; // the queue subscription answers it
    if (!release || !release.leaseId || release.leaseId.length > PERMIT_LIMITS.maxLeaseIdChars) {
      drop("invalid", msg.subject, "neither a request nor a release with a lease_id of at most 64 characters");
      return;
    }
    const [owner, leaseId] = release.leaseId.split(".", 2);
    if (owner !== instance || !leaseId) return; // another coordinator's lease
    throttle.release(leaseId); // false: already expired or released; nothing to do
  };

  const subscriptions: BusSubscription[] = [
    bus.subscribe(SUBJECTS.permitAll, onRequest, { queue: SUBJECTS.permitQueue }),
    bus.subscribe(SUBJECTS.permitAll, onRelease),
  ];
  log.info({ limits: throttle.limits }, "destination throttle serving permits");
  return {
    grantWithTask(address, deadline) {
      const waitMs = Math.min(deadline.getTime() - Date.now(), MAX_LEASE_MS);
      if (!(waitMs > 0)) return undefined;
      const granted = throttle.tryAcquire(address, performance.now() + waitMs);
      return granted ? `${instance}.${granted.leaseId}` : undefined;
    },
    releaseTaskLease(leaseId) {
      const [owner, id] = leaseId.split(".", 2);
      if (owner === instance && id) throttle.release(id);
    },
    stop() {
      for (const sub of subscriptions) sub.unsubscribe();
      for (const controller of pending) controller.abort();
      throttle.close();
    },
  };
}

/** Why a request is not acceptable (the field first), or undefined. */
export function checkRequest(request: PermitRequest): string | undefined {
  if (request.taskId.length > PERMIT_LIMITS.maxIdChars) return `task_id: longer than ${PERMIT_LIMITS.maxIdChars} characters`;
  if (request.probeId.length > PERMIT_LIMITS.maxIdChars) return `probe_id: longer than ${PERMIT_LIMITS.maxIdChars} characters`;
  if (request.address.length > PERMIT_LIMITS.maxAddressChars || isIP(request.address) === 0 || request.address.includes("%")) {
    return `address: not an IP address: ${JSON.stringify(request.address.slice(0, PERMIT_LIMITS.maxAddressChars))}`;
  }
  if (!isPort(request.port)) return `port: must be from 1 to 65535, not ${request.port}`;
  if (!request.deadline || !Number.isFinite(request.deadline.getTime())) return "deadline: missing";
  return undefined;
}
