import { credentials, Metadata } from "@grpc/grpc-js";
import { ProbeServiceClient } from "../lib/probe-service-client.js";
import type { CoordinatorCredentials } from "./coordinator-credentials.js";

/**
 * A ProbeService client for the CLI: plaintext, or TLS when `--coordinator-ca` or a client
 * certificate is given (coordinator-credentials.ts). A report with every region's transcripts is
 * bigger than grpc-js's default 4 MiB receive limit, so the limit matches what the coordinator may
 * send (64 MiB).
 */
export function createProbeClient(target: string, auth: CoordinatorCredentials = {}): ProbeServiceClient {
  const tls = auth.tls;
  const channel = tls
    ? credentials.createSsl(
        tls.caPem === undefined ? null : Buffer.from(tls.caPem),
        tls.client ? Buffer.from(tls.client.keyPem) : null,
        tls.client ? Buffer.from(tls.client.certPem) : null,
      )
    : credentials.createInsecure();
  return new ProbeServiceClient(target, channel, {
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
  });
}

/** The metadata of every call: `authorization: Bearer <token>` when a token is given. */
export function callMetadata(auth: CoordinatorCredentials = {}): Metadata {
  const metadata = new Metadata();
  if (auth.token !== undefined) metadata.set("authorization", `Bearer ${auth.token}`);
  return metadata;
}
