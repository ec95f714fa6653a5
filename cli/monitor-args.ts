// The arguments of `smtp-probe monitor create|list|get|delete|watch` checked, each problem naming
// its flag: a new monitor's host, interval and probe options (the webhook's secret from the
// environment, never the command line, where other users' `ps` would show it), a monitor id, a
// count of runs, where a watch starts (after a run, or from the oldest kept). Pure.
import { CreateMonitorRequest } from "../gen/smtpprobe/v1/monitor.js";
import { probeOptionsOf, type BatchFlags } from "./batch-args.js";
import { UsageError } from "./usage-error.js";

export const WEBHOOK_SECRET_ENV = "SMTP_PROBE_WEBHOOK_SECRET";

export interface MonitorCreateFlags extends Pick<BatchFlags, "port" | "regions" | "tls"> {
  interval?: string;
  webhookUrl?: string;
}

const MONITOR_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UNIT_SECONDS: Readonly<Record<string, number>> = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 };

/** "300", "300s", "5m", "1h", "1d" as seconds (the coordinator checks the bounds it keeps). */
export function parseIntervalSeconds(text: string): number {
  const m = /^(\d{1,6})([smhd]?)$/.exec(text.trim());
  const seconds = m ? Number(m[1]) * UNIT_SECONDS[m[2]!]! : NaN;
  if (!(seconds >= 1 && seconds <= 0xffff_ffff)) throw new UsageError("--interval", `${JSON.stringify(text.slice(0, 20))} is not an interval (seconds, or a number with s, m, h or d: 300, 5m, 1h)`);
  return seconds;
}

export function planMonitorCreate(host: string, flags: MonitorCreateFlags, env: Readonly<Record<string, string | undefined>>): CreateMonitorRequest {
  if (host.trim() === "") throw new UsageError("HOST", "missing: the mail server to probe at each run");
  if (flags.interval === undefined) throw new UsageError("--interval", "needed: how often the monitor probes (300, 5m, 1h)");
  const intervalSeconds = parseIntervalSeconds(flags.interval);
  const probe = { ...probeOptionsOf(flags), host: host.trim() };
  const webhookUrl = flags.webhookUrl ?? "";
  const webhookSecret = env[WEBHOOK_SECRET_ENV] ?? "";
  if (webhookUrl !== "" && webhookSecret === "") throw new UsageError("--webhook-url", `needs the key of its signatures in ${WEBHOOK_SECRET_ENV} (16 to 256 characters)`);
  return CreateMonitorRequest.fromPartial({ probe, intervalSeconds, webhookUrl, webhookSecret: webhookUrl === "" ? "" : webhookSecret });
}

export function checkMonitorId(text: string | undefined): string {
  if (text === undefined) throw new UsageError("MONITOR_ID", "missing: the id printed when the monitor was created (smtp-probe monitor list shows them)");
  if (!MONITOR_ID.test(text)) throw new UsageError("MONITOR_ID", `${JSON.stringify(text.slice(0, 60))} is not a monitor id (a UUID, as smtp-probe monitor list shows them)`);
  return text;
}

/** --count: runs to watch before the command ends (undefined: until interrupted). */
export function parseRunCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const count = /^\d{1,9}$/.test(text) ? Number(text) : 0;
  if (count < 1) throw new UsageError("--count", `${JSON.stringify(text.slice(0, 20))} is not a count of runs (a whole number, at least 1)`);
  return count;
}

/** --after: the run a watch resumes after (its kept runs after it first); 0 or absent: from now. */
export function parseAfterRun(text: string | undefined): number {
  if (text === undefined) return 0;
  if (!/^\d{1,15}$/.test(text.trim())) throw new UsageError("--after", `${JSON.stringify(text.slice(0, 20))} is not a run number (a whole number: the last run a watch printed)`);
  return Number(text.trim());
}

/** Where a watch starts: after --after RUN, from the oldest kept run (--from-oldest), or from now. */
export function watchStartOf(flags: { after?: string; fromOldest?: boolean }): { afterRun: number; fromOldest: boolean } {
  if (flags.fromOldest && flags.after !== undefined) throw new UsageError("--from-oldest", "reads every kept run: leave out --after");
  return { afterRun: parseAfterRun(flags.after), fromOldest: flags.fromOldest ?? false };
}
