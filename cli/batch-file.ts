// The targets file of `smtp-probe batch`: one target per line, `host` or `host,port[,port...]`;
// blank lines and lines starting with # are skipped. Each problem names the file and the line.
// Hosts are checked by the coordinator (CreateBatch names the target); here only the shape. Pure.
import { UsageError } from "./usage-error.js";

export interface BatchFileTarget {
  host: string;
  ports: number[];
}

/** Ports on one line at most (the ProbeRequest's bound). */
const MAX_LINE_PORTS = 8;

export function parseBatchFile(text: string, name: string): BatchFileTarget[] {
  const targets: BatchFileTarget[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const where = `${name}:${index + 1}`;
    const [host = "", ...portTexts] = line.split(",").map((part) => part.trim());
    if (host === "" || /\s/.test(host)) throw new UsageError("FILE", `${where}: ${JSON.stringify(line.slice(0, 80))} is not "host" or "host,port[,port...]"`);
    if (portTexts.length > MAX_LINE_PORTS) throw new UsageError("FILE", `${where}: at most ${MAX_LINE_PORTS} ports on a line, got ${portTexts.length}`);
    const ports = portTexts.map((text) => {
      const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
      if (!(port >= 1 && port <= 65535)) throw new UsageError("FILE", `${where}: ${JSON.stringify(text.slice(0, 20))} is not a port (1-65535)`);
      return port;
    });
    targets.push({ host, ports });
  }
  if (targets.length === 0) throw new UsageError("FILE", `${name}: no targets (one host per line, or host,port[,port...])`);
  return targets;
}
