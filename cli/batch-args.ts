// The flags of `smtp-probe batch` checked, each problem naming its flag: a new batch from FILE or
// the watch of one resumed (--resume, --after), and the shared options of a new batch. Pure.
import { TlsMode } from "../gen/smtpprobe/v1/handshake.js";
import type { CreateBatchRequest } from "../gen/smtpprobe/v1/batch.js";
import { ProbeRequest } from "../gen/smtpprobe/v1/probe_service.js";
import { UsageError } from "./usage-error.js";

export interface BatchFlags {
  port?: string;
  regions?: string[];
  tls?: string;
  resume?: string;
  after?: string;
  json?: boolean;
}

export type BatchPlan =
  | { kind: "create"; file: string; options: NonNullable<CreateBatchRequest["options"]> }
  | { kind: "resume"; batchId: string; after: number };

const TLS_MODES: Readonly<Record<string, TlsMode>> = {
  auto: TlsMode.TLS_MODE_AUTO,
  require: TlsMode.TLS_MODE_REQUIRE,
  implicit: TlsMode.TLS_MODE_IMPLICIT,
  none: TlsMode.TLS_MODE_NONE,
};

const BATCH_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function planBatch(file: string | undefined, flags: BatchFlags): BatchPlan {
  if (flags.resume !== undefined) {
    if (file !== undefined) throw new UsageError("--resume", "watches a batch created before: give FILE or --resume, not both");
    for (const flag of ["port", "regions", "tls"] as const) {
      if (flags[flag] !== undefined) throw new UsageError(`--${flag}`, "is an option of a new batch; a resumed batch keeps its own");
    }
    if (!BATCH_ID.test(flags.resume)) throw new UsageError("--resume", `${JSON.stringify(flags.resume.slice(0, 60))} is not a batch id (the UUID printed when the batch was created)`);
    const after = flags.after === undefined ? 0 : /^\d{1,15}$/.test(flags.after) ? Number(flags.after) : NaN;
    if (Number.isNaN(after)) throw new UsageError("--after", `${JSON.stringify(flags.after!.slice(0, 20))} is not a sequence (a whole number, as printed when a watch stopped)`);
    return { kind: "resume", batchId: flags.resume, after };
  }
  if (flags.after !== undefined) throw new UsageError("--after", "needs --resume BATCH_ID");
  if (file === undefined) throw new UsageError("FILE", "missing: the targets, one per line (host, or host,port[,port...]); or --resume BATCH_ID");
  const options = probeOptionsOf(flags);
  return { kind: "create", file, options };
}

/** --port, --regions and --tls as the options of a probe (shared by a batch's items and a monitor's runs). */
export function probeOptionsOf(flags: Pick<BatchFlags, "port" | "regions" | "tls">): ProbeRequest {
  const ports = (flags.port ?? "").split(",").map((p) => p.trim()).filter((p) => p !== "").map((text) => {
    const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
    if (!(port >= 1 && port <= 65535)) throw new UsageError("--port", `${JSON.stringify(text.slice(0, 20))} is not a port (1-65535)`);
    return port;
  });
  const regions = (flags.regions ?? []).flatMap((r) => r.split(",")).map((r) => r.trim()).filter((r) => r !== "");
  let tlsMode = TlsMode.TLS_MODE_UNSPECIFIED;
  if (flags.tls !== undefined) {
    const mode = TLS_MODES[flags.tls];
    if (mode === undefined) throw new UsageError("--tls", `${JSON.stringify(flags.tls.slice(0, 20))} is not a TLS mode (${Object.keys(TLS_MODES).join(", ")})`);
    tlsMode = mode;
  }
  return ProbeRequest.fromPartial({ ports, regions, options: tlsMode === TlsMode.TLS_MODE_UNSPECIFIED ? undefined : { tlsMode } });
}
