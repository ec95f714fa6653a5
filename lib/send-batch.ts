// Sends made in one turn of the event loop, run together at its end (setImmediate), so that the
// messaging client writes them to its socket at once. nats.js writes its outbound buffer at the
// first microtask checkpoint after a publish, so each publish made from an I/O callback of its own
// (a gRPC call arriving, a handshake ending) costs a socket write of its own; on loopback a write
// runs the receiver's TCP path and wakes nats-server, which then reads, routes and writes once per
// wake-up too. Measured on this machine (32 publishes of 400 bytes per turn): ~18 µs of CPU per
// message in the client and ~12 µs in nats-server one write each, ~6 µs and ~3 µs batched
// (bench/README.md). A send waits at most until the end of the current turn.
//
// Bounded: at MAX_BATCH sends the batch runs at once. A send that throws when it runs is passed to
// `onError`; the caller checks before queueing what would make the client throw (a closed
// connection, a payload over the server's bound), so that such an error still reaches whoever
// sent.

/** Sends queued at most before the batch runs without waiting for the end of the turn. */
export const MAX_BATCH = 1024;

export class SendBatch {
  private queue: (() => void)[] = [];
  private scheduled: NodeJS.Immediate | undefined;

  constructor(private readonly onError: (error: unknown) => void) {}

  /** Queues `send` to run at the end of this turn of the event loop, in the order queued. */
  add(send: () => void): void {
    this.queue.push(send);
    if (this.queue.length >= MAX_BATCH) this.flush();
    else this.scheduled ??= setImmediate(() => this.flush());
  }

  /** Runs every queued send now (before a drain or close, and at the end of each turn). */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const queue = this.queue;
    this.queue = [];
    for (const send of queue) {
      try {
        send();
      } catch (error) {
        this.onError(error);
      }
    }
  }

  /** Sends queued and not run yet. */
  get pending(): number {
    return this.queue.length;
  }
}
