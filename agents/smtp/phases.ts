// The names of the handshake's phases, in one place: the snake name machines read (logs, metric
// labels, "last seen" texts: `tls_connect`) and the label people read (the CLI, the regional
// comparison: "implicit TLS handshake").
import { Phase } from "../../gen/smtpprobe/v1/handshake.js";

export interface PhaseNames {
  /** Lower-case snake name, the proto enum value without its prefix: "banner", "tls_connect". */
  readonly name: string;
  /** Words for people: "banner", "implicit TLS handshake". */
  readonly label: string;
}

const PHASE_LABELS: Readonly<Record<number, string>> = {
  [Phase.PHASE_UNSPECIFIED]: "start",
  [Phase.PHASE_RESOLVE]: "DNS resolution",
  [Phase.PHASE_POLICY]: "policy check",
  [Phase.PHASE_CONNECT]: "TCP connect",
  [Phase.PHASE_TLS_CONNECT]: "implicit TLS handshake",
  [Phase.PHASE_BANNER]: "banner",
  [Phase.PHASE_EHLO]: "EHLO",
  [Phase.PHASE_HELO]: "HELO",
  [Phase.PHASE_STARTTLS]: "STARTTLS",
  [Phase.PHASE_TLS]: "TLS handshake",
  [Phase.PHASE_EHLO_TLS]: "EHLO over TLS",
  [Phase.PHASE_QUIT]: "QUIT",
  [Phase.PHASE_DONE]: "done",
};

/** Both names of a phase. A number outside the enum (a newer peer's phase) is "unknown", "phase 42". */
export function phaseNames(phase: Phase): PhaseNames {
  const label = PHASE_LABELS[phase];
  const enumName = Phase[phase] as string | undefined;
  if (label === undefined || enumName === undefined) return { name: "unknown", label: `phase ${phase}` };
  return { name: enumName.replace(/^PHASE_/, "").toLowerCase(), label };
}

/** "TLS handshake": the phase in words for people. */
export function phaseLabel(phase: Phase): string {
  return phaseNames(phase).label;
}
