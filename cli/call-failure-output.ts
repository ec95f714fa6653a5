// A failed call to the coordinator, told to the person (one line per problem on stderr) and, with
// --json, to the script (a google.rpc.Status on stdout, so `… | jq` never reads nothing). When the
// call got no answer at all, what listens at the address is asked first (server-identity.ts).
import type { CheckDeps } from "./check-command.js";
import { describeCallFailure, diagnoseNoAnswer, failureStatus, isWorthIdentifying, type CallError } from "./call-errors.js";
import { hostOfTarget, type CoordinatorAddress } from "./coordinator-address.js";
import type { CoordinatorCredentials } from "./coordinator-credentials.js";
import type { ExitCodeValue } from "./exit-codes.js";
import { identifyServer } from "./server-identity.js";

export interface FailedCall {
  error: CallError;
  coordinator: CoordinatorAddress;
  /** TLS was used (--coordinator-ca or a client certificate). */
  tls: boolean;
  /** The call's deadline, named when it passed. */
  callTimeoutMs?: number;
  /** Write the JSON status on stdout (--json, and nothing else was written there). */
  json: boolean;
  /** The coordinator answered something before the call failed: it speaks gRPC, nothing to ask. */
  answered: boolean;
}

export async function reportCallFailure(call: FailedCall, deps: Pick<CheckDeps, "stdout" | "stderr">): Promise<ExitCodeValue> {
  let failure = describeCallFailure(call.error, call.coordinator, call.callTimeoutMs);
  if (!call.answered && isWorthIdentifying(call.error)) {
    const { target } = call.coordinator;
    const identity = await identifyServer(hostOfTarget(target), Number(target.slice(target.lastIndexOf(":") + 1)));
    failure = diagnoseNoAnswer(call.error, identity, call.coordinator, call.tls) ?? failure;
  }
  for (const line of failure.lines) deps.stderr.write(`smtp-probe: ${line}\n`);
  if (call.json) deps.stdout.write(`${JSON.stringify(failureStatus(call.error, failure, call.coordinator), null, 2)}\n`);
  return failure.exitCode;
}

/**
 * reportCallFailure for a command's calls to its coordinator, none answered before it failed: the
 * address and TLS of the command, the deadline of the call.
 */
export function callFailureReporter(
  command: { coordinator: CoordinatorAddress; credentials: CoordinatorCredentials },
  json: boolean,
  deps: Pick<CheckDeps, "stdout" | "stderr">,
): (error: CallError, callTimeoutMs: number) => Promise<ExitCodeValue> {
  return (error, callTimeoutMs) =>
    reportCallFailure({ error, coordinator: command.coordinator, tls: command.credentials.tls !== undefined, callTimeoutMs, json, answered: false }, deps);
}
