import { credentials } from "@grpc/grpc-js";
import { ProbeServiceClient } from "../gen/smtpprobe/v1/probe_service.js";

/**
 * A ProbeService client for the CLI. Plain-text gRPC for now: the coordinator serves no TLS or
 * caller authentication yet. A report with every region's transcripts is bigger than grpc-js's
 * default 4 MiB receive limit, so the limit matches what the coordinator may send (64 MiB).
 */
export function createProbeClient(target: string): ProbeServiceClient {
  return new ProbeServiceClient(target, credentials.createInsecure(), {
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
  });
}
