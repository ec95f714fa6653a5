import { EventEmitter } from "node:events";
import { status, type sendUnaryData, type ServiceError } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../../../lib/logger.js";
import { CallError, CallTracker, SHUTDOWN_RETRY_MS } from "../../../../services/coordinator/call-tracker.js";
import { serviceError, statusDetailsOf } from "../../../../services/coordinator/grpc-errors.js";

interface Served {
  answers: { ok?: string; error?: ServiceError }[];
  signal: AbortSignal;
  finish(value: string): void;
  crash(error: unknown): void;
  /** The client cancels the call (grpc-js emits "cancelled"). */
  cancel(): void;
}

function serve(tracker: CallTracker, kind: "call" | "watch" = "call"): Served {
  const call = new EventEmitter();
  const answers: Served["answers"] = [];
  let signal!: AbortSignal;
  let finish!: (value: string) => void;
  let crash!: (error: unknown) => void;
  tracker.serve<string>(
    { ok: (value) => answers.push({ ok: value }), fail: (error) => answers.push({ error }) },
    (s) => {
      signal = s;
      return new Promise<string>((resolve, reject) => {
        finish = resolve;
        crash = reject;
      });
    },
    call,
    kind,
  );
  return { answers, signal, finish, crash, cancel: () => call.emit("cancelled") };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("CallTracker.serve: each call is answered once", () => {
  const notFound = serviceError(status.NOT_FOUND, "no such probe");
  it.each<[string, (s: Served, t: CallTracker) => void, { ok?: string; code?: status; details?: string }[], boolean]>([
    ["its work's value", (s) => s.finish("report"), [{ ok: "report" }], false],
    ["its work's CallError", (s) => s.crash(new CallError(notFound)), [{ code: status.NOT_FOUND, details: "no such probe" }], false],
    ["INTERNAL for any other error", (s) => s.crash(new TypeError("bug")), [{ code: status.INTERNAL, details: "internal error" }], false],
    [
      "UNAVAILABLE from endCalls, its work aborted and its later value ignored",
      (s, t) => {
        t.endCalls("the grace period is over");
        s.finish("too late");
      },
      [{ code: status.UNAVAILABLE, details: "the grace period is over" }],
      true,
    ],
    [
      "nothing once the client cancelled, its work aborted",
      (s) => {
        s.cancel();
        s.finish("too late");
      },
      [],
      true,
    ],
  ])("%s", async (_name, act, expected, aborted) => {
    const tracker = new CallTracker(silentLogger());
    const served = serve(tracker);
    let idle = false;
    void tracker.idle().then(() => (idle = true));
    await tick();
    expect(idle).toBe(false);
    act(served, tracker);
    await tick();
    expect(served.answers.map((a) => (a.error ? { code: a.error.code, details: a.error.details } : a))).toEqual(expected);
    expect(served.signal.aborted).toBe(aborted);
    expect(idle).toBe(true);
  });

  it("grpc-js's \"cancelled\" after the answer (it comes after every call) aborts nothing", async () => {
    const tracker = new CallTracker(silentLogger());
    const served = serve(tracker);
    served.finish("report");
    await tick();
    served.cancel();
    await tick();
    expect(served.answers).toEqual([{ ok: "report" }]);
    expect(served.signal.aborted).toBe(false);
  });

  it("endCalls answers with the retry delay of a stopping coordinator", async () => {
    const tracker = new CallTracker(silentLogger());
    const served = serve(tracker);
    tracker.endCalls();
    expect(served.answers[0]?.error?.details).toMatch(/shutting down.*grace period is over/);
    expect(statusDetailsOf(served.answers[0]!.error!).retryAfterMs).toBe(SHUTDOWN_RETRY_MS);
  });

  it("idle resolves at once when no call runs", async () => {
    await expect(new CallTracker(silentLogger()).idle()).resolves.toBeUndefined();
  });
});

describe("CallTracker: watches at shutdown", () => {
  it("drain() ends the watches at once (UNAVAILABLE, resume), the other calls keep their grace; a watch after it is refused", async () => {
    const tracker = new CallTracker(silentLogger());
    const watch = serve(tracker, "watch");
    const call = serve(tracker);
    tracker.drain();
    await tick();
    expect(watch.answers.map((a) => [a.error?.code, a.error?.details])).toEqual([[status.UNAVAILABLE, expect.stringMatching(/shutting down; resume the watch/)]]);
    expect(statusDetailsOf(watch.answers[0]!.error!).retryAfterMs).toBe(SHUTDOWN_RETRY_MS);
    expect(watch.signal.aborted).toBe(true);
    expect([call.answers, call.signal.aborted]).toEqual([[], false]);
    let idle = false;
    void tracker.idle().then(() => (idle = true));
    call.finish("report");
    await tick();
    expect([call.answers, idle]).toEqual([[{ ok: "report" }], true]);

    const late: ServiceError[] = [];
    let ran = false;
    tracker.serve(
      { ok: () => undefined, fail: (error) => late.push(error) },
      async () => {
        ran = true;
      },
      undefined,
      "watch",
    );
    expect([ran, late.map((e) => e.code)]).toEqual([false, [status.UNAVAILABLE]]);
  });
});

describe("CallTracker.serveUnary", () => {
  it("answers through the callback, and refuses with UNAVAILABLE once draining", async () => {
    const tracker = new CallTracker(silentLogger());
    const answers: [{ code?: status } | null, string | undefined][] = [];
    const callback: sendUnaryData<string> = (error, value) => void answers.push([error, value ?? undefined]);
    tracker.serveUnary(callback, async () => "regions");
    await tick();
    expect(answers).toEqual([[null, "regions"]]);

    expect(tracker.draining).toBe(false);
    tracker.drain();
    expect(tracker.draining).toBe(true);
    let ran = false;
    tracker.serveUnary(callback, async () => {
      ran = true;
      return "late";
    });
    expect(ran).toBe(false);
    expect(answers[1]?.[0]?.code).toBe(status.UNAVAILABLE);
    expect(statusDetailsOf(answers[1]![0] as ServiceError).retryAfterMs).toBe(SHUTDOWN_RETRY_MS);
  });
});
