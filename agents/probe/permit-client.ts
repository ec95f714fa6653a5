// The agent's side of the coordinator's per-destination throttle: before each connection the engine
// asks its gate, which sends a PermitRequest to smtpprobe.v1.permit.<region> and waits for a slot
// or a denial; after the handshake it publishes a PermitRelease. No coordinator, no answer by the
// probe's deadline, or an answer that is not a PermitReply denies: the throttle protects the
// targets, so it fails closed.
import { isIP } from "node:net";
import { PermitMessage, PermitReply, type Task } from "../../gen/smtpprobe/agent/v1/agent.js";
import { SUBJECTS, type Bus, type BusSubscription, type ReplyEvent } from "../../lib/bus.js";
import type { Logger } from "../../lib/logger.js";
import { timerDelay } from "../../lib/timers.js";
import type { ConnectGate } from "../smtp/probe-target.js";

/** How much sooner than the probe's deadline the coordinator gives up waiting for a slot. */
export const PERMIT_ANSWER_MARGIN_MS = 200;

export interface PermitClientDeps {
  bus: Bus;
  /** The agent's region: the subject it asks on. */
  region: string;
  logger: Logger;
}

export interface PermitClient {
  /**
   * The engine's gate for one task: its requests carry the task's and probe's ids. A permit the
   * coordinator granted with the task (Task.permit_lease_id, for an IP literal without MX) opens
   * the task's first connection to that address and port without a request; the coordinator ends
   * that lease when the task's answer reaches it, so nothing is published for it here.
   */
  gateFor(task: GateTask): ConnectGate;
}

/** The task a gate serves: its ids, and the target and permit it may carry. */
export type GateTask = Pick<Task, "taskId" | "probeId"> & Partial<Pick<Task, "host" | "port" | "mx" | "permitLeaseId">>;

/** What one reply to a PermitRequest means: a lease to give back later, or why not. */
export type PermitAnswer = { kind: "granted"; leaseId: string } | { kind: "denied"; reason: string };

/**
 * The coordinator stops waiting a little before we do (a tenth of the time left, at most
 * PERMIT_ANSWER_MARGIN_MS), so its answer (naming the limit) arrives instead of our bare timeout.
 */
export function coordinatorDeadline(remainingMs: number, nowMs: number): Date {
  return new Date(nowMs + remainingMs - Math.min(PERMIT_ANSWER_MARGIN_MS, remainingMs / 10));
}

/** Reads one reply event; anything but a grant with a lease id is a denial. */
export function readPermitReply(event: ReplyEvent): PermitAnswer {
  if (event.kind === "no_responders") {
    return { kind: "denied", reason: "throttled: no coordinator answers permit requests; no connection without a permit (fail closed)" };
  }
  let reply: PermitReply;
  try {
    reply = PermitReply.decode(event.data);
  } catch {
    return { kind: "denied", reason: "throttled: the coordinator's permit reply was not a PermitReply; no connection without a permit" };
  }
  if (!reply.granted || !reply.leaseId) return { kind: "denied", reason: reply.reason || "throttled by the coordinator" };
  return { kind: "granted", leaseId: reply.leaseId };
}

export function createPermitClient({ bus, region, logger }: PermitClientDeps): PermitClient {
  const subject = SUBJECTS.permit(region);

  /** Gives a lease back once; if that fails, the lease ends by itself at its deadline (the throttle's TTL). */
  const releaser = (leaseId: string, taskId: string): (() => void) => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      try {
        bus.publish(subject, PermitMessage.encode(PermitMessage.fromPartial({ release: { leaseId } })).finish());
      } catch (error) {
        logger.warn({ err: error, taskId }, "could not release a connection permit");
      }
    };
  };

  const gateFor = (task: GateTask): ConnectGate => {
    let withTask = Boolean(task.permitLeaseId) && !task.mx && task.host !== undefined && isIP(task.host) !== 0;
    return (address, port, { signal, deadlineAt }) => {
      if (withTask && address === task.host && port === task.port) {
        withTask = false; // one connection: the handshake's; any other asks
        if (signal?.aborted) return Promise.resolve({ denied: "cancelled while waiting for a connection slot" });
        return Promise.resolve({ release: () => undefined });
      }
      return ask(task, address, port, signal, deadlineAt);
    };
  };

  const ask = (task: Pick<Task, "taskId" | "probeId">, address: string, port: number, signal: AbortSignal | undefined, deadlineAt: number): ReturnType<ConnectGate> =>
    new Promise((resolve) => {
      const remainingMs = deadlineAt - performance.now();
      if (remainingMs <= 0) {
        resolve({ denied: "throttled: the probe's deadline passed before a connection slot could be asked for" });
        return;
      }
      const request = PermitMessage.encode(
        PermitMessage.fromPartial({
          request: { taskId: task.taskId, probeId: task.probeId, address, port, deadline: coordinatorDeadline(remainingMs, Date.now()) },
        }),
      ).finish();
      let sub: BusSubscription | undefined;
      let settled = false;
      const done = (answer: { release(): void } | { denied: string }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        sub?.unsubscribe();
        resolve(answer);
      };
      const onAbort = (): void => done({ denied: "cancelled while waiting for a connection slot" });
      const timer = setTimeout(
        () =>
          done({
            denied: `throttled: no answer from the coordinator's throttle within the probe's deadline (${Math.round(remainingMs)} ms); no connection without a permit`,
          }),
        timerDelay(remainingMs),
      );
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        sub = bus.request(subject, request, (event) => {
          const answer = readPermitReply(event);
          done(answer.kind === "granted" ? { release: releaser(answer.leaseId, task.taskId) } : { denied: answer.reason });
        });
      } catch (error) {
        done({ denied: `throttled: could not ask the coordinator for a connection slot (${error instanceof Error ? error.message : String(error)})` });
      }
      // An answer that came inside request() found no subscription to end yet.
      if (settled) sub?.unsubscribe();
    });

  return { gateFor };
}
