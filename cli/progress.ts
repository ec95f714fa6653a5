import { Phase } from "../gen/smtpprobe/v1/handshake.js";
import type { HandshakeProgress } from "../agents/smtp/handshake.js";
import { phaseLabel } from "../agents/smtp/phases.js";
import { formatHostPort } from "../lib/host-port.js";

export interface ProgressStream {
  write(text: string): unknown;
  columns?: number;
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const CLEAR_LINE = "\r\x1b[2K";
/** How long a banner may keep us waiting before the line says why a port may be silent. */
export const SILENT_BANNER_HINT_MS = 3000;

export interface ProgressOptions {
  /** Whether silence before the banner on this port may be implicit TLS (findings.ts mayBeImplicitTls). */
  mayBeImplicitTls?: (port: number) => boolean;
  now?: () => number;
}

interface TargetState {
  phase: Phase;
  port: number;
  since: number;
}

/**
 * One line on stderr, redrawn in place, naming the current phase of every target being probed.
 * Only for a terminal: when `enabled` is false (stderr piped) it writes nothing at all.
 */
export class ProgressLine {
  private readonly current = new Map<string, TargetState>();
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly enabled: boolean,
    private readonly options: ProgressOptions = {},
  ) {}

  start(): void {
    if (!this.enabled || this.timer) return;
    this.timer = setInterval(() => {
      this.frame = (this.frame + 1) % SPINNER.length;
      this.draw();
    }, 100);
    this.timer.unref();
  }

  update(progress: HandshakeProgress): void {
    if (!this.enabled) return;
    const target = progress.address ? formatHostPort(progress.address, progress.port) : `${progress.host}:${progress.port}`;
    // Once an address is known, the name it was resolved from stops being a target of its own.
    const byName = `${progress.host}:${progress.port}`;
    if (progress.address && byName !== target) this.current.delete(byName);
    const before = this.current.get(target);
    const since = before?.phase === progress.phase ? before.since : this.now();
    this.current.set(target, { phase: progress.phase, port: progress.port, since });
    this.draw();
  }

  /** A port is finished: its targets leave the line. */
  finishPort(port: number): void {
    for (const key of this.current.keys()) if (key.endsWith(`:${port}`)) this.current.delete(key);
    this.draw();
  }

  /** Clears the line for good; the results are printed after it. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.drawn) this.stream.write(CLEAR_LINE);
    this.drawn = false;
    this.current.clear();
  }

  private draw(): void {
    if (!this.enabled || !this.timer) return;
    const parts = [...this.current].map(([target, state]) => `${target} ${this.describe(state)}`);
    let line = `${SPINNER[this.frame]} probing ${parts.join(" · ") || "…"}`;
    const width = (this.stream.columns || 80) - 1;
    if (line.length > width) line = `${line.slice(0, Math.max(0, width - 1))}…`;
    this.stream.write(`${CLEAR_LINE}${line}`);
    this.drawn = true;
  }

  /** The phase; a banner that keeps us waiting on a port that may speak implicit TLS says so while we wait. */
  private describe(state: TargetState): string {
    const label = phaseLabel(state.phase);
    if (state.phase !== Phase.PHASE_BANNER || this.now() - state.since < SILENT_BANNER_HINT_MS) return label;
    if (!this.options.mayBeImplicitTls?.(state.port)) return label;
    return `${label}: silent so far (implicit TLS? --tls implicit)`;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
