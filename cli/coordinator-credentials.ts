// How the CLI proves who it is to a coordinator: a bearer token (`--token` or SMTP_PROBE_TOKEN),
// TLS trust (`--coordinator-ca`) and a client certificate (`--client-cert`, `--client-key`).
// The token is never printed, not even in a usage error.
import { UsageError } from "./usage-error.js";

export const TOKEN_ENV = "SMTP_PROBE_TOKEN";

export interface CredentialFlags {
  token?: string;
  coordinatorCa?: string;
  clientCert?: string;
  clientKey?: string;
}

export interface CoordinatorCredentials {
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** TLS to the coordinator; undefined: plaintext. */
  tls?: {
    /** PEM CA certificates to trust; undefined: the system's. */
    caPem?: string;
    /** Mutual TLS. */
    client?: { certPem: string; keyPem: string };
  };
}

/** Flags that only mean something with a coordinator, refused in local mode. */
export const CREDENTIAL_FLAGS: readonly { key: keyof CredentialFlags; flag: string }[] = [
  { key: "token", flag: "--token" },
  { key: "coordinatorCa", flag: "--coordinator-ca" },
  { key: "clientCert", flag: "--client-cert" },
  { key: "clientKey", flag: "--client-key" },
];

/** Printable ASCII without spaces: what a gRPC metadata value can carry after "Bearer ". */
const TOKEN_SYNTAX = /^[\x21-\x7e]+$/;

export async function loadCoordinatorCredentials(
  flags: CredentialFlags,
  envToken: string | undefined,
  readFile: (path: string) => Promise<string>,
): Promise<CoordinatorCredentials> {
  const fromEnv = envToken !== undefined && envToken.trim() !== "" ? envToken.trim() : undefined;
  const token = flags.token ?? fromEnv;
  const tokenSource = flags.token !== undefined ? "--token" : TOKEN_ENV;
  if (token !== undefined && !TOKEN_SYNTAX.test(token)) throw new UsageError(tokenSource, "must be printable ASCII without spaces (the token is not shown)");
  if (flags.clientCert !== undefined && flags.clientKey === undefined) throw new UsageError("--client-cert", "needs --client-key (the certificate's private key)");
  if (flags.clientKey !== undefined && flags.clientCert === undefined) throw new UsageError("--client-key", "needs --client-cert (the certificate that goes with the key)");
  const read = async (flag: string, path: string): Promise<string> => {
    let text: string;
    try {
      text = await readFile(path);
    } catch (error) {
      throw new UsageError(flag, `cannot read ${JSON.stringify(path)}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    if (!text.includes("-----BEGIN ")) throw new UsageError(flag, `${JSON.stringify(path)} is not PEM`);
    return text;
  };
  const credentials: CoordinatorCredentials = {};
  if (token !== undefined) credentials.token = token;
  if (flags.coordinatorCa !== undefined || flags.clientCert !== undefined) {
    credentials.tls = {};
    if (flags.coordinatorCa !== undefined) credentials.tls.caPem = await read("--coordinator-ca", flags.coordinatorCa);
    if (flags.clientCert !== undefined && flags.clientKey !== undefined) {
      credentials.tls.client = { certPem: await read("--client-cert", flags.clientCert), keyPem: await read("--client-key", flags.clientKey) };
    }
  }
  return credentials;
}

/** In local mode there is no coordinator to authenticate to: these flags are a usage error. */
export function refuseCredentialFlagsLocally(flags: CredentialFlags): void {
  for (const { key, flag } of CREDENTIAL_FLAGS) {
    if (flags[key] !== undefined) throw new UsageError(flag, "only with --coordinator (or SMTP_PROBE_COORDINATOR): it is how this command proves who it is to the coordinator");
  }
}
