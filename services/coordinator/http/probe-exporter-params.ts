// What a Prometheus scrape of /probe asks for: the query parameters (blackbox_exporter's `target`,
// and `port`, `region`, `tls`, `role`, `mx`) as a ProbeRequest, and the scrape's own timeout
// (the X-Prometheus-Scrape-Timeout-Seconds header) as the call's deadline. Only the shape of each
// parameter is checked here, each error naming the parameter; the request itself then goes
// through the ProbeService's validation and target policy like any gRPC call. Pure.
import { PortRole, TlsMode } from "../../../gen/smtpprobe/v1/handshake.js";
import { ProbeRequest } from "../../../gen/smtpprobe/v1/probe_service.js";
import { parseHostPort } from "../../../lib/config-schemas.js";

/** The header Prometheus sends with every scrape: its scrape_timeout, in seconds ("9.5"). */
export const SCRAPE_TIMEOUT_HEADER = "x-prometheus-scrape-timeout-seconds";

/**
 * Kept back from the scrape's timeout, so that the exposition is written before Prometheus gives
 * up (blackbox_exporter keeps 0.5 s; a report here is written in well under a millisecond, the
 * rest covers the network and a loaded scraper).
 */
export const SCRAPE_MARGIN_MS = 250;

/** The port probed when neither `port` nor the target says one: the MX relay port. */
export const DEFAULT_SCRAPE_PORT = 25;

/** More regions in one scrape than this is a mistake in a scrape configuration. */
const MAX_SCRAPE_REGIONS = 16;

/** `tls=`: the TLS modes by the names the CLI's --tls takes. */
export const SCRAPE_TLS_MODES: Readonly<Record<string, TlsMode>> = {
  auto: TlsMode.TLS_MODE_AUTO,
  require: TlsMode.TLS_MODE_REQUIRE,
  implicit: TlsMode.TLS_MODE_IMPLICIT,
  none: TlsMode.TLS_MODE_NONE,
};

/** `role=`: the port roles by the names the CLI's --port-role takes. */
export const SCRAPE_PORT_ROLES: Readonly<Record<string, PortRole>> = {
  relay: PortRole.PORT_ROLE_MX_RELAY,
  submission: PortRole.PORT_ROLE_SUBMISSION,
  "implicit-submission": PortRole.PORT_ROLE_IMPLICIT_TLS_SUBMISSION,
};

const KNOWN_PARAMS = new Set(["target", "port", "region", "tls", "role", "mx"]);

export interface ScrapeRequest {
  request: ProbeRequest;
  port: number;
  /** The scrape's deadline as Date.now() milliseconds, the margin kept back; Infinity without the header. */
  deadline: number;
}

export type ScrapeParse = { ok: true; value: ScrapeRequest } | { ok: false; message: string };

/**
 * The scrape's request from its query and headers, or what is wrong, naming the parameter.
 * `target` is a host (or, with mx=true, a mail domain), optionally with `:port` as blackbox
 * targets usually are; a `port` parameter that says otherwise is an error rather than a guess.
 */
export function parseScrapeRequest(query: URLSearchParams, timeoutHeader: string | string[] | undefined, now: number): ScrapeParse {
  const fail = (message: string): ScrapeParse => ({ ok: false, message });
  for (const name of new Set(query.keys())) {
    if (!KNOWN_PARAMS.has(name)) return fail(`unknown parameter ${JSON.stringify(name.slice(0, 40))} (known: ${[...KNOWN_PARAMS].join(", ")})`);
    if (name !== "region" && query.getAll(name).length > 1) return fail(`${name}: given ${query.getAll(name).length} times; give it once`);
  }
  const target = (query.get("target") ?? "").trim();
  if (target === "") return fail("target: missing; give the mail server, e.g. /probe?target=mx.example.com&port=25");
  const withPort = parseHostPort(target);
  const host = withPort ? withPort.host : target.replace(/^\[(.*)\]$/, "$1");
  let port = withPort?.port;
  const portText = query.get("port");
  if (portText !== null) {
    const given = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(given >= 1 && given <= 65535)) return fail(`port: ${JSON.stringify(portText.slice(0, 20))} is not a port (1-65535)`);
    if (port !== undefined && port !== given) return fail(`port: ${given} differs from the port in target (${port}); give one`);
    port = given;
  }
  port ??= DEFAULT_SCRAPE_PORT;

  const regions = query.getAll("region").flatMap((value) => value.split(",")).map((r) => r.trim()).filter((r) => r !== "");
  if (regions.length > MAX_SCRAPE_REGIONS) return fail(`region: at most ${MAX_SCRAPE_REGIONS} regions in one scrape, got ${regions.length}`);

  const tlsText = query.get("tls");
  const tlsMode = tlsText === null ? undefined : SCRAPE_TLS_MODES[tlsText];
  if (tlsText !== null && tlsMode === undefined) return fail(`tls: ${JSON.stringify(tlsText.slice(0, 30))} is not a TLS mode (${Object.keys(SCRAPE_TLS_MODES).join(", ")})`);
  const roleText = query.get("role");
  const role = roleText === null ? undefined : SCRAPE_PORT_ROLES[roleText];
  if (roleText !== null && role === undefined) return fail(`role: ${JSON.stringify(roleText.slice(0, 30))} is not a port role (${Object.keys(SCRAPE_PORT_ROLES).join(", ")})`);
  const mxText = query.get("mx");
  if (mxText !== null && mxText !== "true" && mxText !== "false") return fail(`mx: ${JSON.stringify(mxText.slice(0, 10))} is not true or false`);

  const deadline = scrapeDeadline(timeoutHeader, now);
  if (!deadline.ok) return deadline;
  return {
    ok: true,
    value: {
      port,
      deadline: deadline.value,
      request: ProbeRequest.fromPartial({
        host,
        mx: mxText === "true",
        ports: [port],
        regions,
        tlsModes: tlsMode === undefined ? {} : { [port]: tlsMode },
        portRoles: role === undefined ? {} : { [port]: role },
      }),
    },
  };
}

function scrapeDeadline(header: string | string[] | undefined, now: number): { ok: true; value: number } | { ok: false; message: string } {
  if (header === undefined) return { ok: true, value: Number.POSITIVE_INFINITY };
  const text = Array.isArray(header) ? header[0] ?? "" : header;
  const seconds = /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : NaN;
  if (!(seconds > 0)) return { ok: false, message: `${SCRAPE_TIMEOUT_HEADER}: ${JSON.stringify(text.slice(0, 20))} is not a number of seconds` };
  return { ok: true, value: now + seconds * 1000 - SCRAPE_MARGIN_MS };
}
