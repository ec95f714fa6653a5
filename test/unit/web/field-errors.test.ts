import { describe, expect, it } from "vitest";
import { formFieldOf, placeProblems } from "../../../web/field-errors.js";

describe("formFieldOf: the form field of a field the API names", () => {
  it.each<[string, string | undefined]>([
    ["host", "host"],
    ["mx", "mx"],
    ["ports", "ports"],
    ["ports[2]", "ports"],
    ["port_roles[25]", "ports"],
    ["regions[0]", "regions"],
    ["options.tls_mode", "tls-mode"],
    ["tls_modes[465]", "tls-mode"],
    ["options.timeouts.deadline_ms", undefined],
    ["idempotency_key", undefined],
    ["request", undefined],
  ])("%s → %s", (field, expected) => {
    expect(formFieldOf(field)).toBe(expected);
  });

  it("places each problem in the API's words, the rest apart", () => {
    const placed = placeProblems([
      { field: "host", description: "is required" },
      { field: "ports[0]", description: "99999 is not a port (1-65535)" },
      { field: "ports[1]", description: "25 is given twice (ports[0])" },
      { field: "request", description: "is not JSON" },
    ]);
    expect(Object.fromEntries(placed.byField)).toEqual({ host: ["host: is required"], ports: ["ports[0]: 99999 is not a port (1-65535)", "ports[1]: 25 is given twice (ports[0])"] });
    expect(placed.general).toEqual(["request: is not JSON"]);
  });
});
