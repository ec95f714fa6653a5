// A CoordinatorConfig for tests that start a coordinator in their own process (startCoordinator):
// loopback allowed on the given ports, the throttle opened wide, short heartbeats; embedded unless
// a NATS URL is given. Overrides replace whole fields.
import type { CoordinatorConfig } from "../../services/coordinator/coordinator.js";

export function testCoordinatorConfig(ports: number[], overrides: Partial<CoordinatorConfig> = {}): CoordinatorConfig {
  return {
    host: "127.0.0.1",
    port: 0,
    maxDeadlineMs: 10_000,
    heartbeatMs: 200,
    reportTtlMs: 60_000,
    reportStoreBytes: 1024 * 1024,
    allowCidrs: ["127.0.0.0/8"],
    allowPorts: ports,
    throttle: { addressConcurrent: 100, addressPerMinute: 10_000, networkConcurrent: 100, networkPerMinute: 10_000, maxWaiters: 100 },
    embedded: { concurrency: 4, canaries: [], canaryIntervalMs: 60_000, canaryDeadlineMs: 1_000, dnsServers: [] },
    version: "test",
    ...overrides,
  };
}
