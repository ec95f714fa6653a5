// What this machine charges for a hop between processes, measured beside the probes so that the
// added latency can be read against it: a NATS round trip from the bench to one agent and back
// (the NATS services framework's PING, answered by the agent process itself), through the same
// nats-server the coordinator uses. The gRPC round trip is ServiceClient.ping().
import { SUBJECTS, type Bus } from "../lib/bus.js";
import { connectNatsBus } from "../lib/nats-bus.js";
import { withTimeout } from "../test/helpers/wait.js";

export interface NatsPinger {
  /** One round trip to the agent, ms. */
  ping(): Promise<number>;
  close(): Promise<void>;
}

/** Connects to NATS and finds the service instance of `agentId` through discovery. */
export async function connectNatsPinger(natsUrl: string, agentId: string): Promise<NatsPinger> {
  const bus: Bus = await connectNatsBus({ servers: natsUrl, name: "smtp-probe-bench" });
  const found = await bus.discover(SUBJECTS.agentService, 500);
  const instance = found.find((service) => service.metadata.agent_id === agentId);
  if (!instance) {
    await bus.drain();
    throw new Error(`agent ${agentId} not found by NATS discovery`);
  }
  const subject = `$SRV.PING.${SUBJECTS.agentService}.${instance.id}`;
  return {
    ping: () =>
      withTimeout(
        new Promise<number>((resolve) => {
          const start = performance.now();
          const sub = bus.request(subject, new Uint8Array(), () => {
            sub.unsubscribe();
            resolve(performance.now() - start);
          });
        }),
        5_000,
        "NATS ping",
      ),
    close: () => bus.drain(),
  };
}
