// The ProbeService's calls in progress, for shutdown: each is answered exactly once (its work's
// value or error, or UNAVAILABLE when the grace period is over), and the coordinator can wait
// until none is left. A watch (of a monitor's runs, of a batch) has no end of its own to wait for:
// it is answered UNAVAILABLE as soon as the shutdown starts, and its caller resumes it on another
// coordinator from the last run or report it got.
import { status, type sendUnaryData, type ServiceError } from "@grpc/grpc-js";
import type { Logger } from "../../lib/logger.js";
import { metrics } from "../../lib/metrics.js";
import { serviceError, unavailable } from "./grpc-errors.js";

export const SHUTTING_DOWN = "the coordinator is shutting down; retry (another replica, or this one once it is back)";
/** How soon a caller refused during shutdown may try again (another replica behind the address). */
export const SHUTDOWN_RETRY_MS = 1000;

/** A gRPC error for the call as a whole (per-region problems are outcomes in the report). */
export class CallError extends Error {
  override readonly name = "CallError";
  constructor(readonly error: ServiceError) {
    super(error.message);
  }
}

/** What a watch is told when the shutdown starts. */
export const WATCH_SHUTTING_DOWN = "the coordinator is shutting down; resume the watch from the last event received (another replica, or this one once it is back)";

/** UNAVAILABLE with the retry delay of a stopping coordinator. */
export function shuttingDown(message = SHUTTING_DOWN): ServiceError {
  return unavailable(message, SHUTDOWN_RETRY_MS);
}

/** How a call is answered: once, with a value or an error. */
export interface CallAnswer<T> {
  ok(value: T): void;
  fail(error: ServiceError): void;
}

/** A call the client may cancel (grpc-js emits "cancelled"). */
export interface CancellableCall {
  on(event: "cancelled", listener: () => void): unknown;
}

export class CallTracker {
  /** Each running call's way to end it with an error. */
  private readonly active = new Set<(error: ServiceError) => void>();
  /** Those of them that are watches: ended at drain(). */
  private readonly watches = new Set<(error: ServiceError) => void>();
  private idleWaiters: (() => void)[] = [];
  private isDraining = false;

  constructor(private readonly logger: Logger) {}

  /** True once drain() was called: new calls are refused with shuttingDown(). */
  get draining(): boolean {
    return this.isDraining;
  }

  /** New calls refused from now on; the watches running are ended (UNAVAILABLE) at once. */
  drain(): void {
    this.isDraining = true;
    for (const end of [...this.watches]) end(shuttingDown(WATCH_SHUTTING_DOWN));
  }

  /** Ends every call still running with UNAVAILABLE; their work is aborted. */
  endCalls(message = `${SHUTTING_DOWN}: the grace period is over`): void {
    for (const end of [...this.active]) end(shuttingDown(message));
  }

  /** Resolves when no call is running (at once when none is). */
  idle(): Promise<void> {
    return this.active.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Answers the call once with what `work` gives, unless endCalls answers first; either way the
   * other is ignored. `work`'s signal aborts when the client cancels or endCalls ends the call. A
   * cancelled call is answered by nobody (grpc-js has closed it) and is no longer tracked. A
   * `watch` is ended at drain() rather than after the grace period, and refused after it.
   */
  serve<T>(answer: CallAnswer<T>, work: (signal: AbortSignal) => Promise<T>, call?: CancellableCall, kind: "call" | "watch" = "call"): void {
    if (kind === "watch" && this.isDraining) {
      metrics.requestsRejected.inc({ reason: "unavailable" });
      answer.fail(shuttingDown());
      return;
    }
    const controller = new AbortController();
    let answered = false;
    const settle = (): boolean => {
      if (answered) return false;
      answered = true;
      this.active.delete(end);
      this.watches.delete(end);
      this.wakeIfIdle();
      return true;
    };
    const end = (error: ServiceError): void => {
      if (settle()) answer.fail(error);
      controller.abort();
    };
    this.active.add(end);
    if (kind === "watch") this.watches.add(end);
    call?.on("cancelled", () => {
      // grpc-js says "cancelled" after every call, answered or not (its stream closes either way).
      // Once answered the work is over and nobody listens to its signal any more; an abort then
      // would only make a DOMException (a stack trace) per call.
      if (answered) return;
      controller.abort();
      settle();
    });
    work(controller.signal).then(
      (value) => {
        if (settle()) answer.ok(value);
      },
      (error: unknown) => {
        // Mapped (and a bug logged) even when the call was answered already.
        const serviceError = this.toServiceError(error);
        if (settle()) answer.fail(serviceError);
      },
    );
  }

  /** A short unary call (GetProbe, ListRegions): refused while draining, else served and tracked. */
  serveUnary<T>(callback: sendUnaryData<T>, work: () => Promise<T>): void {
    if (this.isDraining) {
      metrics.requestsRejected.inc({ reason: "unavailable" });
      callback(shuttingDown());
      return;
    }
    this.serve({ ok: (value) => callback(null, value), fail: (error) => callback(error) }, work);
  }

  private wakeIfIdle(): void {
    if (this.active.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  /** A CallError as it is; anything else is our bug: logged, and INTERNAL for the caller. */
  private toServiceError(error: unknown): ServiceError {
    if (error instanceof CallError) return error.error;
    this.logger.error({ err: error }, "internal error");
    return serviceError(status.INTERNAL, "internal error");
  }
}
