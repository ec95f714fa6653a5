import { describe, expect, it } from "vitest";
import type { CheckFlags } from "../../../cli/check-args.js";
import { chooseCheckMode } from "../../../cli/check-mode.js";

describe("chooseCheckMode", () => {
  it.each<[string, CheckFlags, string | undefined, string]>([
    ["nothing: local", {}, undefined, "local"],
    ["--coordinator", { coordinator: "127.0.0.1:1" }, undefined, "remote 127.0.0.1:1 --coordinator"],
    ["the variable", {}, "10.0.0.1", "remote 10.0.0.1:50051 SMTP_PROBE_COORDINATOR"],
    ["--coordinator wins over the variable", { coordinator: "127.0.0.1:2" }, "10.0.0.1", "remote 127.0.0.1:2 --coordinator"],
    ["--local wins over the variable", { local: true }, "10.0.0.1", "local"],
    ["an empty variable is unset", {}, " ", "local"],
  ])("%s", (_, flags, env, expected) => {
    const mode = chooseCheckMode(flags, env);
    expect(mode.kind === "local" ? "local" : `remote ${mode.coordinator.target} ${mode.coordinator.source}`).toBe(expected);
  });

  it.each<[string, CheckFlags, string | undefined, string]>([
    ["--local with --coordinator", { local: true, coordinator: "x" }, undefined, "--local: cannot be combined with --coordinator"],
    ["--regions without a coordinator", { regions: ["us-east"] }, undefined, "--regions: needs --coordinator"],
    ["--regions with --local", { regions: ["us-east"], local: true }, "10.0.0.1", "--regions: needs --coordinator"],
    ["a bad address in the variable", {}, "a b", 'SMTP_PROBE_COORDINATOR: "a b" has a bad host'],
  ])("%s is bad usage", (_, flags, env, message) => {
    expect(() => chooseCheckMode(flags, env)).toThrow(message);
  });
});
