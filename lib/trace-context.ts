// W3C Trace Context (https://www.w3.org/TR/trace-context/) across the three hops of a probe:
// gRPC metadata → coordinator → NATS headers → agent.
//
// Spans are made through @opentelemetry/api. Without an OpenTelemetry SDK registered in the
// process (the default) the API is a no-op whose spans carry their parent's context, so the trace
// id still reaches the logs of every process; with one registered (for example
// `node --import @opentelemetry/auto-instrumentations-node/register`), the same calls record real
// spans, one trace per probe. The traceparent header is read and written here by hand rather than
// through the API's propagator, because the no-op API has no propagator and the trace id must
// travel in both cases.
import { ROOT_CONTEXT, trace, TraceFlags, type Span, type SpanContext } from "@opentelemetry/api";
import { randomHex } from "./random-hex.js";

export const TRACEPARENT = "traceparent";
const TRACER_NAME = "smtp-probe";

/** version 00: "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>". */
const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * The span context a traceparent value names, or undefined when it is missing or invalid (the
 * spec says: then start a new trace). Version ff and all-zero ids are invalid; a later version is
 * read for its first four fields, as the spec asks.
 */
export function parseTraceparent(value: string | undefined): SpanContext | undefined {
  if (value === undefined) return undefined;
  const m = TRACEPARENT_RE.exec(value.trim().toLowerCase());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, traceFlags: parseInt(flags, 16) & TraceFlags.SAMPLED, isRemote: true };
}

export function formatTraceparent(span: SpanContext): string {
  return `00-${span.traceId}-${span.spanId}-${(span.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, "0")}`;
}

/** A new trace's root context (random ids), for a call that came without a traceparent. */
export function newSpanContext(): SpanContext {
  return { traceId: randomHex(16), spanId: randomHex(8), traceFlags: TraceFlags.NONE, isRemote: false };
}

export interface TracedSpan {
  span: Span;
  /** The traceparent children of this span carry (NATS header value). */
  traceparent: string;
  traceId: string;
}

/**
 * Starts a span under the caller's traceparent (a new trace when there is none or it is
 * invalid). Under the no-op API the span's context is its parent's, so the trace id and the
 * parent id travel on unchanged.
 */
export function startSpan(name: string, parentTraceparent: string | undefined, attributes: Record<string, string | number | boolean> = {}): TracedSpan {
  const parent = parseTraceparent(parentTraceparent) ?? newSpanContext();
  const parentContext = trace.setSpanContext(ROOT_CONTEXT, parent);
  const span = trace.getTracer(TRACER_NAME).startSpan(name, { attributes }, parentContext);
  const own = span.spanContext();
  // A no-op span reports an invalid context when its parent was not remote-valid: keep the parent.
  const context = trace.isSpanContextValid(own) ? own : parent;
  return { span, traceparent: formatTraceparent(context), traceId: context.traceId };
}
