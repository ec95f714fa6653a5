// `smtp-probe regions --coordinator ADDR [--json]`: the coordinator's live agents per region.
import type { ServiceError } from "@grpc/grpc-js";
import type { ListRegionsResponse } from "../gen/smtpprobe/v1/probe_service.js";
import { reportCallFailure } from "./call-failure-output.js";
import type { CheckDeps } from "./check-command.js";
import { makeStyle, shouldUseColor } from "./colors.js";
import type { CoordinatorAddress } from "./coordinator-address.js";
import type { CoordinatorCredentials } from "./coordinator-credentials.js";
import { ExitCode, type ExitCodeValue } from "./exit-codes.js";
import { formatRegions } from "./format-regions.js";
import { callMetadata, createProbeClient } from "./grpc-client.js";
import { listRegionsJson } from "../lib/proto-json.js";

export interface RegionsRequest {
  coordinator: CoordinatorAddress;
  json: boolean;
  colorAllowed: boolean;
  /** Token and TLS for the coordinator. */
  credentials: CoordinatorCredentials;
}

/** The coordinator asks its agents (discovery), which takes up to about half a second. */
export const REGIONS_TIMEOUT_MS = 10_000;

export async function runRegions(request: RegionsRequest, deps: CheckDeps): Promise<ExitCodeValue> {
  const client = createProbeClient(request.coordinator.target, request.credentials);
  let result: { response: ListRegionsResponse } | { error: ServiceError };
  try {
    result = await new Promise((resolve) => {
      const cancel = (): void => call.cancel();
      const call = client.listRegions({}, callMetadata(request.credentials), { deadline: Date.now() + REGIONS_TIMEOUT_MS }, (error, response) => {
        deps.signal.removeEventListener("abort", cancel);
        resolve(error ? { error } : { response });
      });
      if (deps.signal.aborted) call.cancel();
      else deps.signal.addEventListener("abort", cancel, { once: true });
    });
  } finally {
    client.close();
  }
  if (deps.signal.aborted) return ExitCode.interrupted;
  if ("error" in result) {
    const { error } = result;
    return reportCallFailure(
      { error, coordinator: request.coordinator, tls: request.credentials.tls !== undefined, callTimeoutMs: REGIONS_TIMEOUT_MS, json: request.json, answered: false },
      deps,
    );
  }
  if (request.json) {
    deps.stdout.write(`${JSON.stringify(listRegionsJson(result.response), null, 2)}\n`);
  } else {
    const color = shouldUseColor({ colorAllowed: request.colorAllowed, env: deps.env, isTTY: deps.stdout.isTTY === true });
    deps.stdout.write(formatRegions(result.response, makeStyle(color), new Date()));
  }
  return ExitCode.ok;
}
