import { describe, expect, it } from "vitest";
import { describeListenError, ListenError } from "../../../lib/listen-error.js";

const LISTEN = { flag: "--listen", env: "SMTP_PROBE_LISTEN" };

describe("describeListenError: what went wrong with a listen address, and what to do", () => {
  it.each([
    ["EADDRINUSE", "127.0.0.1:50051 is already in use (EADDRINUSE): stop what listens there (another smtp-probe?), or choose another with --listen HOST:PORT (or SMTP_PROBE_LISTEN)"],
    ["EADDRNOTAVAIL", "127.0.0.1:50051 is not an address of this machine (EADDRNOTAVAIL): use one of its addresses, 0.0.0.0 or [::] for all, or choose another with --listen HOST:PORT (or SMTP_PROBE_LISTEN)"],
    ["EACCES", "127.0.0.1:50051: not permitted (EACCES; ports below 1024 need privileges): use a port from 1024 up, grant CAP_NET_BIND_SERVICE, or choose another with --listen HOST:PORT (or SMTP_PROBE_LISTEN)"],
    ["ENOTFOUND", "127.0.0.1:50051: the host name does not resolve (ENOTFOUND): give an IP address, or choose another with --listen HOST:PORT (or SMTP_PROBE_LISTEN)"],
    ["EMFILE", "cannot listen on 127.0.0.1:50051 (EMFILE): choose another with --listen HOST:PORT (or SMTP_PROBE_LISTEN)"],
  ])("%s", (code, text) => {
    expect(describeListenError(new ListenError("127.0.0.1:50051", code), LISTEN)).toBe(text);
  });

  it("no code: the cause's own words", () => {
    const error = new ListenError("[::1]:9464", undefined, { cause: new Error("No address added out of total 1 resolved") });
    expect(describeListenError(error, { flag: "--metrics-listen", env: "SMTP_PROBE_METRICS_LISTEN" })).toBe(
      "cannot listen on [::1]:9464 (No address added out of total 1 resolved): choose another with --metrics-listen HOST:PORT (or SMTP_PROBE_METRICS_LISTEN)",
    );
  });
});
