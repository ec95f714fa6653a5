// Probes a mail server through the coordinator with the generated client, and prints what each
// region saw and the verdict per port. Run from the repository:
//   npx tsx docs/examples/probe-client.ts 127.0.0.1:50051 127.0.0.1 2525
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { ProbeRequest, taskStatusToJSON, type ProbeReport } from "../../gen/smtpprobe/v1/probe_service.js";
import { ProbeServiceClient } from "../../lib/probe-service-client.js";
import { outcomeToJSON } from "../../gen/smtpprobe/v1/handshake.js";

const [address = "127.0.0.1:50051", host = "127.0.0.1", port = "2525"] = process.argv.slice(2);
const client = new ProbeServiceClient(address, credentials.createInsecure());
const request = ProbeRequest.fromPartial({ host, ports: [Number(port)] });

try {
  const report = await new Promise<ProbeReport>((resolve, reject) => {
    const deadline = Date.now() + 30_000; // also bounds the probe: the coordinator ends it in time to answer
    client.probe(request, new Metadata(), { deadline }, (error, response) => (error ? reject(error) : resolve(response)));
  });
  console.log(`probe ${report.probeId}`);
  for (const task of report.tasks) {
    const outcomes = task.result?.handshakes.map((h) => `${h.address} ${outcomeToJSON(h.outcome)}`) ?? [];
    console.log(`  ${task.region} port ${task.port}: ${taskStatusToJSON(task.status)} ${outcomes.join(", ")}`);
  }
  for (const verdict of report.comparison?.verdicts ?? []) console.log(`  verdict: ${verdict.summary}`);
} catch (error) {
  // INVALID_ARGUMENT, PERMISSION_DENIED, ...: the message names the field (docs/api.md#errors).
  const { code, details } = error as ServiceError;
  console.error(`probe failed: code ${code}: ${details}`);
  process.exitCode = 1;
} finally {
  client.close();
}
