// The coordinator's per-destination throttle settings. Defaults a careful operator would
// pick for other people's mail servers:
// - 4 connections open at once to one address: below the 5 a Postfix sender opens to a destination
//   at first (initial_destination_concurrency), so a probe never looks busier than mail delivery.
//   One probe of 4 ports from 5 regions (20 handshakes) then takes about 5 handshake times.
// - 60 per minute to one address: one a second on average, well under the connection-rate limits
//   MTAs are commonly given (Postfix anvil, counted per client IP: ours are spread over regions).
// - 16 open and 240 per minute per /24 (/48 for IPv6): a provider's mail cluster sits in one
//   network, so it gets four addresses' worth, not one address's worth times its size.
import type { Setting } from "../../lib/config.js";
import { integer } from "../../lib/config-schemas.js";
import type { ThrottleLimits } from "./destination-throttle.js";

const limit = integer(1, 100_000);

export const THROTTLE_SETTINGS = {
  throttleAddressConnections: {
    flag: "--throttle-address-connections",
    env: "SMTP_PROBE_THROTTLE_ADDRESS_CONNECTIONS",
    placeholder: "N",
    default: "4",
    description: "connections open at once to one target address, over all regions and callers; more wait their turn (then THROTTLED)",
    schema: limit,
  },
  throttleAddressPerMinute: {
    flag: "--throttle-address-per-minute",
    env: "SMTP_PROBE_THROTTLE_ADDRESS_PER_MINUTE",
    placeholder: "N",
    default: "60",
    description: "connections started to one target address in any 60 s, over all regions and callers",
    schema: limit,
  },
  throttleNetworkConnections: {
    flag: "--throttle-network-connections",
    env: "SMTP_PROBE_THROTTLE_NETWORK_CONNECTIONS",
    placeholder: "N",
    default: "16",
    description: "connections open at once to one /24 (IPv4) or /48 (IPv6)",
    schema: limit,
  },
  throttleNetworkPerMinute: {
    flag: "--throttle-network-per-minute",
    env: "SMTP_PROBE_THROTTLE_NETWORK_PER_MINUTE",
    placeholder: "N",
    default: "240",
    description: "connections started to one /24 (IPv4) or /48 (IPv6) in any 60 s",
    schema: limit,
  },
} satisfies Record<string, Setting<unknown>>;

/** The throttle's limits from resolved settings. */
export function throttleLimits(s: { throttleAddressConnections: number; throttleAddressPerMinute: number; throttleNetworkConnections: number; throttleNetworkPerMinute: number }): ThrottleLimits {
  return {
    addressConcurrent: s.throttleAddressConnections,
    addressPerMinute: s.throttleAddressPerMinute,
    networkConcurrent: s.throttleNetworkConnections,
    networkPerMinute: s.throttleNetworkPerMinute,
  };
}

/**
 * Flags for coordinators that tests and benchmarks start against one loopback fixture: limits
 * high enough never to slow them. The throttle itself is tested with its own limits.
 */
export const UNTHROTTLED_ARGS: readonly string[] = [
  "--throttle-address-connections",
  "100000",
  "--throttle-address-per-minute",
  "100000",
  "--throttle-network-connections",
  "100000",
  "--throttle-network-per-minute",
  "100000",
];
