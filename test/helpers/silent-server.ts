// A TCP server on 127.0.0.1 that accepts and never says a word: a probe to it waits for a banner
// until its own timeout, which holds a task (and its quota, its shutdown grace) open on demand.
import net from "node:net";
import { closeServer, listenLoopback } from "./wait.js";

export interface SilentServer {
  port: number;
  /** Connections open now. */
  open(): number;
  /** Connections accepted so far. */
  accepted(): number;
  stop(): Promise<void>;
}

export async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.resume();
    socket.once("close", () => sockets.delete(socket));
  });
  const port = await listenLoopback(server);
  return {
    port,
    open: () => sockets.size,
    accepted: () => accepted,
    async stop() {
      for (const s of sockets) s.destroy();
      await closeServer(server);
    },
  };
}
