import { execFile } from "node:child_process";
import net from "node:net";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { stopAfterEach } from "../../helpers/cleanup.js";
import { netnsAvailable } from "../../../scripts/lab/netns-support.js";
import { createBlackholeHost } from "../../helpers/netns.js";
import { need } from "../../helpers/requirements.js";

const netns = await need(netnsAvailable);

/** How a TCP connect from the host namespace ends within `timeoutMs`. */
function connectOutcome(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve("timeout");
    }, timeoutMs);
    socket.on("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve("connected");
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? "error");
    });
  });
}

describe.skipIf(netns.skip)("createBlackholeHost", () => {
  const track = stopAfterEach();

  it("drops port 25, resets 2525, answers 465 with host-unreachable, refuses the rest", async () => {
    const host = track(await createBlackholeHost());
    expect(host.address).toMatch(/^198\.18\.\d{1,3}\.2$/);
    expect(host.hostAddress).toBe(host.address.replace(/\.2$/, ".1"));
    const [p25, p2525, p465, p587] = await Promise.all([
      connectOutcome(host.address, 25, 300),
      connectOutcome(host.address, 2525, 300),
      connectOutcome(host.address, 465, 300),
      connectOutcome(host.address, 587, 300),
    ]);
    expect({ p25, p2525, p465, p587 }).toEqual({
      p25: "timeout",
      p2525: "ECONNREFUSED",
      p465: "EHOSTUNREACH",
      p587: "ECONNREFUSED",
    });
  });

  it("gives concurrent hosts distinct subnets, and stop() removes namespace and veth", async () => {
    const [a, b] = await Promise.all([createBlackholeHost(), createBlackholeHost()]);
    expect(a.address).not.toBe(b.address);
    await Promise.all([a.stop(), b.stop()]);
    await a.stop(); // idempotent
    const { stdout: namespaces } = await promisify(execFile)("ip", ["netns", "list"]);
    expect(namespaces).not.toContain(a.namespace);
    expect(namespaces).not.toContain(b.namespace);
    const { stdout: links } = await promisify(execFile)("ip", ["-o", "link"]);
    expect(links).not.toMatch(new RegExp(`${a.namespace.replace("-", "")}h|${b.namespace.replace("-", "")}h`));
    // Never connect to the address after stop(): without the veth route it follows the default
    // route off the machine (seen: something out there accepts 198.18.x.2:25).
  });
});
