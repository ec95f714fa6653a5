// One address's reverse DNS and blocklist listings on one line, for the domain check's MX block
// and a probe's handshake block (--posture). Pure; DNS text goes through safe().
import type { AddressPosture } from "../gen/smtpprobe/v1/address_posture.js";
import type { Style } from "./colors.js";
import { plural, safe } from "./labels.js";

export function formatAddressPosture(a: AddressPosture, style: Style): string {
  const rdns = a.reverseDns;
  const ptr = !rdns || rdns.ptrNames.length === 0
    ? style.yellow("no PTR")
    : `PTR ${rdns.ptrNames.map(safe).join(", ")}${rdns.forwardConfirmed ? " (forward-confirmed)" : style.yellow(" (not forward-confirmed)")}`;
  const listed = a.blocklists.filter((b) => b.listed).map((b) => style.red(`listed in ${safe(b.zone)} (${b.codes.join(", ")})`));
  const failed = a.blocklists.filter((b) => !b.listed && b.error !== "").map((b) => style.dim(`${safe(b.zone)}: no answer`));
  const clean = a.blocklists.filter((b) => !b.listed && b.error === "").length;
  const lists = [...listed, ...failed, ...(clean > 0 ? [`not listed in ${plural(clean, "blocklist")}`] : [])];
  return `${a.address}: ${[ptr, ...lists].join("; ")}`;
}
