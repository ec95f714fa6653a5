import { describe, expect, it } from "vitest";
import {
  dnsServerList,
  duration,
  hostPortList,
  integer,
  listenAddress,
  logLevel,
  natsUrl,
  optionalText,
  portList,
  region,
  textList,
  type Parsed,
  type Schema,
} from "../../../lib/config-schemas.js";

const ok = <T>(value: T): Parsed<T> => ({ value });
const problem = (text: string): Parsed<never> => ({ problem: text });

describe("the settings' schemas", () => {
  it.each<[string, Schema<unknown>, unknown, Parsed<unknown>]>([
    ["duration in ms", duration, "500", ok(500)],
    ["duration with a unit", duration, " 1.5s ", ok(1500)],
    ["duration in hours", duration, "24h", ok(86_400_000)],
    ["a duration that is not one", duration, "soon", problem("must be a duration like 500ms, 30s or 2m")],
    ["no duration at all", duration, undefined, problem("is required")],
    ["integer", integer(1, 10), "7", ok(7)],
    ["integer below", integer(1, 10), "0", problem("must be at least 1")],
    ["integer above", integer(1, 10), "11", problem("must be at most 10")],
    ["integer with a fraction", integer(1, 10), "2.5", problem("must be a whole number")],
    ["integer of no digits", integer(1, 10), " ", problem("must be a whole number")],
    ["integer of words", integer(1, 10), "ten", problem("must be a whole number")],
    ["optional text, empty", optionalText, "", ok(undefined)],
    ["optional text, unset", optionalText, undefined, ok(undefined)],
    ["optional text", optionalText, "x", ok("x")],
    ["NATS URLs", natsUrl, "nats://a:4222, tls://b:4222", ok("nats://a:4222, tls://b:4222")],
    ["a NATS URL that is not one", natsUrl, "http://a", problem("must be a NATS URL like nats://127.0.0.1:4222 (several separated by commas)")],
    ["region", region, "eu-west", ok("eu-west")],
    ["region in capitals", region, "EU", problem("must be a region name: lower-case letters, digits and hyphens, 1-63 characters")],
    ["no region", region, undefined, problem("is required")],
    ["listen on port 0", listenAddress, "127.0.0.1:0", ok("127.0.0.1:0")],
    ["listen on no port", listenAddress, "127.0.0.1", problem("must be HOST:PORT, e.g. 127.0.0.1:50051 or [::1]:50051 (port 0: any free port)")],
    ["unset, where that is allowed", listenAddress.optional(), undefined, ok(undefined)],
    ["ports, repeated and comma-separated, duplicates dropped", portList, ["25,587", " 25 ", "465"], ok([25, 587, 465])],
    ["a port out of range", portList, ["25,65536"], problem('"65536" is not a port (1-65535)')],
    ["a list where text is wanted", duration, ["1s"], problem("must be text")],
    ["text where a list is wanted", portList, "25", problem("must be a list of text")],
    ["text list", textList, ["a, b", "", "c"], ok(["a", "b", "c"])],
    ["host:port list", hostPortList, ["127.0.0.1:25,[::1]:25"], ok(["127.0.0.1:25", "[::1]:25"])],
    ["a host:port list with a bad one", hostPortList, ["127.0.0.1:25,nope"], problem('"nope" must be HOST:PORT, e.g. 127.0.0.1:50051 or [::1]:50051')],
    ["DNS servers", dnsServerList, ["127.0.0.1:5353,::1"], ok(["127.0.0.1:5353", "::1"])],
    ["log level", logLevel, "debug", ok("debug")],
    ["a log level that is not one", logLevel, "loud", problem("must be one of fatal, error, warn, info, debug, trace, silent")],
    ["a refinement after a conversion", duration.refine((ms) => ms <= 1000, "must be 1s at most"), "2s", problem("must be 1s at most")],
  ])("%s", (_, schema, raw, expected) => {
    expect(schema.parse(raw)).toEqual(expected);
  });
});
