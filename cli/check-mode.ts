// `check` locally or through a coordinator: which mode a command line asks for. Pure, and light:
// the command line decides before it loads what either mode needs.
import type { CheckFlags } from "./check-args.js";
import { parseCoordinatorAddress, type CoordinatorAddress } from "./coordinator-address.js";
import { UsageError } from "./usage-error.js";

export const COORDINATOR_ENV = "SMTP_PROBE_COORDINATOR";

export type CheckMode = { kind: "local" } | { kind: "remote"; coordinator: CoordinatorAddress };

/**
 * Local or through a coordinator: --local wins over SMTP_PROBE_COORDINATOR (and is refused with
 * --coordinator); --coordinator wins over the variable; an empty variable counts as unset.
 */
export function chooseCheckMode(flags: Pick<CheckFlags, "coordinator" | "local" | "regions">, envCoordinator: string | undefined): CheckMode {
  if (flags.local && flags.coordinator !== undefined) {
    throw new UsageError("--local", "cannot be combined with --coordinator: choose where the probe runs");
  }
  let mode: CheckMode = { kind: "local" };
  if (flags.coordinator !== undefined) {
    mode = { kind: "remote", coordinator: parseCoordinatorAddress(flags.coordinator, "--coordinator") };
  } else if (!flags.local && envCoordinator !== undefined && envCoordinator.trim() !== "") {
    mode = { kind: "remote", coordinator: parseCoordinatorAddress(envCoordinator, COORDINATOR_ENV) };
  }
  if (mode.kind === "local" && flags.regions !== undefined) {
    throw new UsageError("--regions", "needs --coordinator (or SMTP_PROBE_COORDINATOR): regions are where a coordinator's agents run");
  }
  return mode;
}
