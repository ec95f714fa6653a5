// A server on 127.0.0.1:PORT made to answer on other loopback addresses too (all of 127.0.0.0/8 is
// local on Linux): a TCP relay on each address, on the same port, to 127.0.0.1:PORT. For a name
// with several A records that all lead to one test server.
import net from "node:net";
import { closeServer, withTimeout } from "./wait.js";

export interface LoopbackRelay {
  /** The addresses relayed from, as given. */
  addresses: readonly string[];
  stop(): Promise<void>;
}

export async function relayLoopback(port: number, addresses: readonly string[]): Promise<LoopbackRelay> {
  if (!addresses.every((a) => /^127\.\d+\.\d+\.\d+$/.test(a))) throw new Error(`loopback addresses only, got ${addresses.join(", ")}`);
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  };
  const servers: net.Server[] = [];
  const stop = async (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map((server) => closeServer(server)));
  };
  try {
    for (const address of addresses) {
      const server = net.createServer((client) => {
        const upstream = net.connect(port, "127.0.0.1");
        track(client);
        track(upstream);
        const end = (): void => {
          client.destroy();
          upstream.destroy();
        };
        client.on("error", end);
        upstream.on("error", end);
        client.pipe(upstream).pipe(client);
      });
      servers.push(server);
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(port, address, () => {
            server.off("error", reject);
            resolve();
          });
        }),
        2_000,
        `listen on ${address}:${port}`,
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { addresses, stop };
}
