import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { BadRequest, QuotaFailure, RetryInfo } from "../../../../../gen/google/rpc/error_details.js";
import { Status } from "../../../../../gen/google/rpc/status.js";
import { invalidArgument, resourceExhausted, serviceError, unavailable } from "../../../../../services/coordinator/grpc-errors.js";
import { httpErrorOf, httpStatusOf } from "../../../../../services/coordinator/http/http-status.js";

describe("httpStatusOf: google.api's mapping of gRPC codes", () => {
  it.each<[keyof typeof status, number]>([
    ["OK", 200],
    ["CANCELLED", 499],
    ["UNKNOWN", 500],
    ["INVALID_ARGUMENT", 400],
    ["DEADLINE_EXCEEDED", 504],
    ["NOT_FOUND", 404],
    ["ALREADY_EXISTS", 409],
    ["PERMISSION_DENIED", 403],
    ["RESOURCE_EXHAUSTED", 429],
    ["FAILED_PRECONDITION", 400],
    ["ABORTED", 409],
    ["OUT_OF_RANGE", 400],
    ["UNIMPLEMENTED", 501],
    ["INTERNAL", 500],
    ["UNAVAILABLE", 503],
    ["DATA_LOSS", 500],
    ["UNAUTHENTICATED", 401],
  ])("%s is %i", (code, http) => {
    expect(httpStatusOf(status[code] as number)).toBe(http);
  });
});

/** A detail of a Status in the JSON mapping: "@type" and the message's fields. */
function detailOf(body: unknown, type: string): Record<string, unknown> | undefined {
  const details = (body as { details?: Record<string, unknown>[] }).details ?? [];
  return details.find((d) => d["@type"] === `type.googleapis.com/google.rpc.${type}`);
}

describe("httpErrorOf: google.rpc.Status in the JSON mapping", () => {
  it("INVALID_ARGUMENT: 400, BadRequest inline under its @type", () => {
    const answer = httpErrorOf(invalidArgument([{ field: "host", description: "is required" }]));
    expect(answer.httpStatus).toBe(400);
    expect(Status.fromJSON(answer.body)).toMatchObject({ code: status.INVALID_ARGUMENT, message: "invalid request: host: is required" });
    expect(BadRequest.fromJSON(detailOf(answer.body, "BadRequest")).fieldViolations).toEqual([{ field: "host", description: "is required", reason: "" }]);
    expect(answer.headers).toEqual({});
  });

  it("RESOURCE_EXHAUSTED: 429, Retry-After in whole seconds, RetryInfo's delay as a JSON duration", () => {
    const answer = httpErrorOf(resourceExhausted({ limit: "caller_executions_per_minute", subject: "caller:bot", description: "over the quota", retryAfterMs: 1500 }));
    expect(answer.httpStatus).toBe(429);
    expect(answer.headers).toEqual({ "retry-after": "2" });
    expect(detailOf(answer.body, "RetryInfo")).toEqual({ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "1.500s" });
    expect(RetryInfo.fromJSON({}).retryDelay).toBeUndefined();
    expect(QuotaFailure.fromJSON(detailOf(answer.body, "QuotaFailure")).violations).toEqual([{ subject: "caller:bot", description: "over the quota" }]);
  });

  it("UNAVAILABLE with a retry delay: 503 and Retry-After; without details: code and message only", () => {
    expect(httpErrorOf(unavailable("stopping", 1000))).toMatchObject({ httpStatus: 503, headers: { "retry-after": "1" } });
    const plain = httpErrorOf(serviceError(status.NOT_FOUND, "no such probe"));
    expect(plain).toEqual({ httpStatus: 404, body: { code: status.NOT_FOUND, message: "no such probe" }, headers: {} });
  });
});
