// `smtp-probe check` in local mode: runs the engine in this process, one probe per port, all
// ports at once, with a target policy that allows every address and port (the operator names the
// target on their own machine; the policy protects a shared service, docs/security.md) but, like
// the service's, no special-use name unless --allow-name names it: "localhost" would be sent to the
// configured resolver, and a name under .local or .internal means another network's server.
// Prints the results, returns the exit code.
import { randomUUID } from "node:crypto";
import type { TargetResult } from "../gen/smtpprobe/v1/handshake.js";
import { mayBeImplicitTls } from "../agents/smtp/findings.js";
import { probeTarget } from "../agents/smtp/probe-target.js";
import type { TargetPolicy } from "../lib/policy/policy-types.js";
import { checkSpecialUseName, isLocalhostName, specialUseSuffixOf } from "../lib/policy/special-use-names.js";
import { readCaFile } from "./ca-file.js";
import { UsageError } from "./usage-error.js";
import type { CheckRequest } from "./check-args.js";
import { makeStyle, shouldUseColor } from "./colors.js";
import { exitCodeFor, type ExitCodeValue } from "./exit-codes.js";
import { formatHuman } from "./format-human.js";
import { localReport } from "./local-report.js";
import { outputWidth } from "./output-width.js";
import { ProgressLine, type ProgressStream } from "./progress.js";

export interface OutputStream extends ProgressStream {
  isTTY?: boolean;
}

export interface CheckDeps {
  stdout: OutputStream;
  stderr: OutputStream;
  env: Readonly<Record<string, string | undefined>>;
  readFile: (path: string) => Promise<string>;
  /** Aborted on SIGINT: the probes stop at once and what was seen is printed. */
  signal: AbortSignal;
}

export async function runCheck(request: CheckRequest, deps: CheckDeps): Promise<ExitCodeValue> {
  refuseSpecialUseHost(request);
  // Every address and port; names (the host, MX exchangers) are checked before they are resolved.
  const policy: TargetPolicy = Object.assign(() => undefined, { checkName: (name: string) => checkSpecialUseName(name, request.allowNames) });
  // Read before anything is probed: a wrong path is a usage error, not a TLS failure per handshake.
  const extraCa = request.caFile === undefined ? undefined : await readCaFile(request.caFile, deps.readFile);
  const silentMayBeTls = new Map(request.targets.map((t) => [t.port, mayBeImplicitTls({ port: t.port, tlsMode: t.options.tlsMode, portRole: t.options.portRole })]));
  const progress = new ProgressLine(deps.stderr, deps.stderr.isTTY === true, { mayBeImplicitTls: (port) => silentMayBeTls.get(port) === true });
  const startedAt = new Date();
  progress.start();
  let results: TargetResult[];
  try {
    results = await Promise.all(
      request.targets.map(async ({ port, options }) => {
        const result = await probeTarget({ host: request.host, port, mx: request.mx }, options, {
          signal: deps.signal,
          onProgress: (p) => progress.update(p),
          dnsServers: request.dnsServers,
          extraCa,
          policy,
        });
        progress.finishPort(port);
        return result;
      }),
    );
  } finally {
    progress.stop();
  }

  if (request.json) {
    // The ProbeReport a coordinator would return, with this machine as region `local`.
    const report = localReport({ probeId: randomUUID(), request, results, startedAt, finishedAt: new Date(), interrupted: deps.signal.aborted });
    // Loaded only here: the descriptor registry behind the JSON writer costs the human form's start-up.
    const { probeReportJson } = await import("../lib/proto-json.js");
    deps.stdout.write(`${JSON.stringify(probeReportJson(report), null, 2)}\n`);
  } else {
    const color = shouldUseColor({ colorAllowed: request.colorAllowed, env: deps.env, isTTY: deps.stdout.isTTY === true });
    deps.stdout.write(formatHuman(results, { style: makeStyle(color), transcript: request.transcript, width: outputWidth(deps.stdout, deps.env) }));
  }
  return exitCodeFor(results, deps.signal.aborted);
}

/** A special-use host (not allowed by --allow-name) is a usage error: nothing is resolved. */
function refuseSpecialUseHost(request: Pick<CheckRequest, "host" | "isIpLiteral" | "allowNames">): void {
  if (request.isIpLiteral || checkSpecialUseName(request.host, request.allowNames) === undefined) return;
  const special = specialUseSuffixOf(request.host)!;
  const name = request.host.replace(/\.$/, "");
  const instead = isLocalhostName(name) ? "probe 127.0.0.1 or ::1 instead" : "probe the server's IP address instead";
  throw new UsageError("host", `"${name}" is a special-use name (${special.source}), never looked up in public DNS; ${instead}, or allow it with --allow-name ${name}`);
}
