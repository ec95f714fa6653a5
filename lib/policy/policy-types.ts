// The target policy as the SMTP engine sees it: a question asked of every address before a
// connection and of every name before it is resolved. The policy owns this interface; the engine
// (agents/smtp/probe-target.ts) only calls it, so the engine knows nothing of ranges or deny lists.

/** Which rule denied: callers that act on the kind (metrics, audit) read it here, never from the reason. */
export type PolicyDenialKind =
  /** The text is no canonical IP address. */
  | "not_an_address"
  /** An IPv6 address with a zone id (fe80::1%eth0): it names an interface of one machine. */
  | "zone_id"
  /** The operator's deny list holds the address, the IPv4 address it carries, or the name. */
  | "deny_list"
  /** An address of this machine's own interfaces. */
  | "own_address"
  /** A range of the policy's table (loopback, private, documentation…) not allowlisted. */
  | "range"
  /** A port outside the allowed set. */
  | "port"
  /** A special-use name (RFC 6761 and beside it: localhost, .local, .onion...) not allowed by name. */
  | "special_use_name";

export interface PolicyDenial {
  kind: PolicyDenialKind;
  /** One sentence for the caller: what was denied and why. */
  reason: string;
}

/**
 * Decides whether an address may be connected to. Returns the denial, or undefined when allowed.
 * It sees every resolved address, and the connection goes to the checked address itself, so a
 * second, different DNS answer cannot slip past it (no DNS rebinding).
 */
export type TargetPolicy = ((address: string, port: number) => PolicyDenial | undefined) & {
  /** The denial of a name that must not be resolved (the operator's deny list, a special-use name), or undefined. */
  checkName?: (name: string) => PolicyDenial | undefined;
  /** The address rules alone, for connections that are not SMTP (an MTA-STS policy over HTTPS). */
  checkAddress?: (address: string) => PolicyDenial | undefined;
};

export const allowAll: TargetPolicy = () => undefined;
