// The target policy as the SMTP engine sees it: a question asked of every address before a
// connection and of every name before it is resolved. The policy owns this interface; the engine
// (agents/smtp/probe-target.ts) only calls it, so the engine knows nothing of ranges or deny lists.

/**
 * Decides whether an address may be connected to. Returns why not, or undefined when allowed.
 * It sees every resolved address, and the connection goes to the checked address itself, so a
 * second, different DNS answer cannot slip past it (no DNS rebinding).
 */
export type TargetPolicy = ((address: string, port: number) => string | undefined) & {
  /** Why a name must not be resolved (the operator's deny list), or undefined. */
  checkName?: (name: string) => string | undefined;
};

export const allowAll: TargetPolicy = () => undefined;
