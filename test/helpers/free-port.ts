// A free TCP port on 127.0.0.1, for servers that cannot bind port 0 themselves (Postfix reads its
// port from master.cf). Another process can take the port between this call and the bind, so
// callers that can retry should.
import net from "node:net";
import { closeServer, listenLoopback } from "./wait.js";

export async function freePort(): Promise<number> {
  const server = net.createServer();
  const port = await listenLoopback(server);
  await closeServer(server);
  return port;
}
