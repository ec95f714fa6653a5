import type { HandshakeProgress } from "../agents/smtp/handshake.js";
import { phaseLabel } from "../agents/smtp/phases.js";
import { formatHostPort } from "../lib/host-port.js";

export interface ProgressStream {
  write(text: string): unknown;
  columns?: number;
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const CLEAR_LINE = "\r\x1b[2K";

/**
 * One line on stderr, redrawn in place, naming the current phase of every target being probed.
 * Only for a terminal: when `enabled` is false (stderr piped) it writes nothing at all.
 */
export class ProgressLine {
  private readonly current = new Map<string, string>();
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly enabled: boolean,
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
    this.current.set(target, phaseLabel(progress.phase));
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
    const parts = [...this.current].map(([target, phase]) => `${target} ${phase}`);
    let line = `${SPINNER[this.frame]} probing ${parts.join(" · ") || "…"}`;
    const width = (this.stream.columns || 80) - 1;
    if (line.length > width) line = `${line.slice(0, Math.max(0, width - 1))}…`;
    this.stream.write(`${CLEAR_LINE}${line}`);
    this.drawn = true;
  }
}
