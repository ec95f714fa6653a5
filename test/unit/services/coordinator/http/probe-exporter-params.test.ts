import { describe, expect, it } from "vitest";
import { PortRole, TlsMode } from "../../../../../gen/smtpprobe/v1/handshake.js";
import { parseScrapeRequest, SCRAPE_MARGIN_MS } from "../../../../../services/coordinator/http/probe-exporter-params.js";

const NOW = 1_700_000_000_000;
const parse = (query: string, header?: string) => parseScrapeRequest(new URLSearchParams(query), header, NOW);

describe("parseScrapeRequest", () => {
  it.each([
    ["target=mx.example.com", "mx.example.com", 25],
    ["target=mx.example.com:587", "mx.example.com", 587],
    ["target=mx.example.com&port=465", "mx.example.com", 465],
    ["target=mx.example.com:465&port=465", "mx.example.com", 465],
    ["target=[2001:db8::1]:25", "2001:db8::1", 25],
    ["target=[2001:db8::1]", "2001:db8::1", 25],
    ["target=2001:db8::1&port=2525", "2001:db8::1", 2525],
  ])("%s → host %s, port %i", (query, host, port) => {
    const parsed = parse(query);
    expect(parsed).toMatchObject({ ok: true, value: { port, request: { host, ports: [port] } } });
  });

  it("region repeats and takes commas; tls, role and mx reach the request for the port", () => {
    const parsed = parse("target=example.com&port=587&region=eu-west&region=us-east,ap-south&tls=require&role=submission&mx=true");
    expect(parsed.ok && parsed.value.request).toMatchObject({
      host: "example.com",
      mx: true,
      regions: ["eu-west", "us-east", "ap-south"],
      tlsModes: { 587: TlsMode.TLS_MODE_REQUIRE },
      portRoles: { 587: PortRole.PORT_ROLE_SUBMISSION },
    });
  });

  it("the scrape timeout header sets the deadline, less the margin; without it there is none", () => {
    expect(parse("target=a.example", "9.5")).toMatchObject({ ok: true, value: { deadline: NOW + 9500 - SCRAPE_MARGIN_MS } });
    expect(parse("target=a.example")).toMatchObject({ ok: true, value: { deadline: Number.POSITIVE_INFINITY } });
  });

  it.each([
    ["", "target: missing"],
    ["target=", "target: missing"],
    ["target=a.example&port=0", 'port: "0" is not a port'],
    ["target=a.example&port=x", 'port: "x" is not a port'],
    ["target=a.example&port=65536", 'port: "65536" is not a port'],
    ["target=a.example:25&port=26", "port: 26 differs from the port in target (25)"],
    ["target=a.example&tls=starttls", 'tls: "starttls" is not a TLS mode (auto, require, implicit, none)'],
    ["target=a.example&role=mx", 'role: "mx" is not a port role (relay, submission, implicit-submission)'],
    ["target=a.example&mx=yes", 'mx: "yes" is not true or false'],
    ["target=a.example&module=smtp", 'unknown parameter "module"'],
    ["target=a.example&target=b.example", "target: given 2 times"],
    [`target=a.example&region=${Array.from({ length: 17 }, (_, i) => `r${i}`).join(",")}`, "region: at most 16 regions"],
  ])("%j is refused: %s", (query, message) => {
    const parsed = parse(query);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.message).toContain(message);
  });

  it.each(["0", "-1", "soon", ""])("a scrape timeout header %j is refused, naming the header", (header) => {
    const parsed = parse("target=a.example", header);
    expect(!parsed.ok && parsed.message).toContain("x-prometheus-scrape-timeout-seconds:");
  });
});
