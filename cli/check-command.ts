// `smtp-probe check` in local mode: runs the engine in this process, one probe per port, all
// ports at once, with an allow-all target policy (the operator names the target on their own
// machine; the policy protects a shared service, docs/security.md). Prints the results, returns the exit code.
import { TargetResult } from "../gen/smtpprobe/v1/handshake.js";
import { probeTarget } from "../agents/smtp/probe-target.js";
import { allowAll } from "../lib/policy/policy-types.js";
import { readCaFile } from "./ca-file.js";
import type { CheckRequest } from "./check-args.js";
import { makeStyle, shouldUseColor } from "./colors.js";
import { exitCodeFor, type ExitCodeValue } from "./exit-codes.js";
import { formatHuman } from "./format-human.js";
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
  // Read before anything is probed: a wrong path is a usage error, not a TLS failure per handshake.
  const extraCa = request.caFile === undefined ? undefined : await readCaFile(request.caFile, deps.readFile);
  const progress = new ProgressLine(deps.stderr, deps.stderr.isTTY === true);
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
          policy: allowAll,
        });
        progress.finishPort(port);
        return result;
      }),
    );
  } finally {
    progress.stop();
  }

  if (request.json) {
    deps.stdout.write(`${JSON.stringify({ results: results.map((r) => TargetResult.toJSON(r)) }, null, 2)}\n`);
  } else {
    const color = shouldUseColor({ colorAllowed: request.colorAllowed, env: deps.env, isTTY: deps.stdout.isTTY === true });
    deps.stdout.write(formatHuman(results, { style: makeStyle(color), transcript: request.transcript }));
  }
  return exitCodeFor(results, deps.signal.aborted);
}
