// JetStream's answer to a KV write (lib/nats-bus.ts pubAckProblem): a PubAck, or what is wrong.
import { describe, expect, it } from "vitest";
import { pubAckProblem } from "../../../lib/nats-bus.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe("pubAckProblem", () => {
  it.each<[string, string, string | undefined]>([
    ["a PubAck", '{"stream":"KV_reports","seq":42}', undefined],
    ["a duplicate PubAck", '{"stream":"KV_reports","seq":42,"duplicate":true}', undefined],
    ["JetStream's error", '{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}', "maximum messages exceeded (code 10077)"],
    ["an error without err_code", '{"error":{"code":400,"description":"bad request"}}', "bad request (code 400)"],
    ["not JSON", "+OK", "its answer is not JSON"],
    ["JSON that is no PubAck", '{"stream":"x"}', "its answer is not a PubAck"],
  ])("%s", (_, answer, problem) => {
    expect(pubAckProblem(bytes(answer))).toBe(problem);
  });
});
