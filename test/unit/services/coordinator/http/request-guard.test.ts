import { describe, expect, it } from "vitest";
import { checkLoopbackHost, checkSameOrigin, checkStateChanging } from "../../../../../services/coordinator/http/request-guard.js";

const JSON_TYPE = { "content-type": "application/json" };

describe("checkStateChanging: cross-site request forgery", () => {
  it.each<[string, Record<string, string>]>([
    ["a client that is no browser (no Origin, no Sec-Fetch-Site)", { ...JSON_TYPE, host: "127.0.0.1:8080" }],
    ["the page itself", { ...JSON_TYPE, host: "127.0.0.1:8080", origin: "http://127.0.0.1:8080", "sec-fetch-site": "same-origin" }],
    ["a charset parameter", { "content-type": "application/json; charset=utf-8", host: "h:1" }],
    ["a request typed into the browser", { ...JSON_TYPE, host: "h:1", "sec-fetch-site": "none" }],
  ])("lets through %s", (_, headers) => {
    expect(checkStateChanging(headers, "http")).toBeUndefined();
  });

  it.each<[string, Record<string, string>, number, RegExp]>([
    ["a form post (not JSON)", { "content-type": "application/x-www-form-urlencoded", host: "h:1" }, 415, /content-type: application\/json \(got "application\/x-www-form-urlencoded"\)/],
    ["text/plain (no preflight)", { "content-type": "text/plain", host: "h:1" }, 415, /got "text\/plain"/],
    ["no content type", { host: "h:1" }, 415, /got none/],
    ["another site", { ...JSON_TYPE, host: "127.0.0.1:8080", "sec-fetch-site": "cross-site" }, 403, /cross-site requests are refused/],
    ["another origin", { ...JSON_TYPE, host: "127.0.0.1:8080", origin: "http://evil.example" }, 403, /another origin.*evil\.example/],
    ["the same host over the other scheme", { ...JSON_TYPE, host: "127.0.0.1:8080", origin: "https://127.0.0.1:8080" }, 403, /another origin/],
    ["an opaque origin", { ...JSON_TYPE, host: "h:1", origin: "null" }, 403, /another origin/],
  ])("refuses %s", (_, headers, httpStatus, message) => {
    const refusal = checkStateChanging(headers, "http");
    expect(refusal?.httpStatus).toBe(httpStatus);
    expect(refusal?.message).toMatch(message);
  });
});

describe("checkSameOrigin: a DELETE, which has no body", () => {
  it.each([
    [{}, undefined],
    [{ "sec-fetch-site": "same-origin" }, undefined],
    [{ "sec-fetch-site": "cross-site" }, 403],
    [{ host: "127.0.0.1:8080", origin: "http://127.0.0.1:8080" }, undefined],
    [{ host: "127.0.0.1:8080", origin: "http://evil.example" }, 403],
  ])("%j: %s", (headers, refused) => {
    expect(checkSameOrigin(headers, "http")?.httpStatus).toBe(refused);
  });
});

describe("checkLoopbackHost: DNS rebinding of a coordinator without authentication", () => {
  it.each(["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "127.0.0.2", "LOCALHOST"])("accepts Host %s", (host) => {
    expect(checkLoopbackHost({ host })).toBeUndefined();
  });

  it.each(["evil.example:8080", "10.0.0.1:8080", "", "localhost.evil.example"])("refuses Host %j", (host) => {
    expect(checkLoopbackHost({ host })?.httpStatus).toBe(403);
  });
});
