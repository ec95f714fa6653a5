// The addresses of this machine's own interfaces, for the target policy's own-address rule
// (./target-policy.ts): a probe must not be a way to reach the agent itself (its
// metrics, a sidecar, a service bound to its pod address) under the cover of an allowlisted range.
//
// Read on demand, cached for a short time: an interface that appears (a container getting a new
// address, a VPN coming up) is seen within ttlMs, and a burst of probes costs one read.
import { networkInterfaces, type NetworkInterfaceInfo } from "node:os";

export const OWN_ADDRESSES_TTL_MS = 5_000;
/** A machine with more is unusual; the rest are not compared (bounded work per check). */
export const MAX_OWN_ADDRESSES = 4_096;

export interface OwnAddressesOptions {
  ttlMs?: number;
  /** Default os.networkInterfaces. */
  read?: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  /** Default performance.now. */
  now?: () => number;
}

/**
 * A provider for createTargetPolicy({ ownAddresses }). It hands out the same array until the set
 * of addresses changes, so the policy re-parses only then.
 */
export function createOwnAddresses(options: OwnAddressesOptions = {}): () => readonly string[] {
  const ttlMs = options.ttlMs ?? OWN_ADDRESSES_TTL_MS;
  const read = options.read ?? networkInterfaces;
  const now = options.now ?? (() => performance.now());
  let current: readonly string[] = [];
  let key = "";
  let readAt = -Infinity;
  return () => {
    const t = now();
    if (t - readAt < ttlMs) return current;
    readAt = t;
    let addresses: string[];
    try {
      addresses = Object.values(read())
        .flatMap((infos) => (infos ?? []).map((info) => info.address))
        .slice(0, MAX_OWN_ADDRESSES);
    } catch {
      // os.networkInterfaces() can throw on exotic systems: keep what was known.
      return current;
    }
    const nextKey = addresses.join(",");
    if (nextKey !== key) {
      key = nextKey;
      current = Object.freeze(addresses);
    }
    return current;
  };
}
