// An AgentMessage as bytes, with a result encoded once. The result is the one large message an
// agent sends (transcripts, certificate chains); trimming measures it by encoding it
// (trim-result.ts, through lib/encode-once.ts), and those bytes go out as they are: the envelope
// (task id, agent id) is encoded apart and the result appended as field 4. Protobuf allows fields
// in any order (the result is the body oneof's only field set), so a decoder reads the same message.
import { AgentMessage } from "../../gen/smtpprobe/agent/v1/agent.js";
import { TargetResult } from "../../gen/smtpprobe/v1/handshake.js";
import { earlierEncoding } from "../../lib/encode-once.js";

/** AgentMessage.result: field 4, wire type 2 (length-delimited). */
const RESULT_TAG = (4 << 3) | 2;

export function encodeAgentMessage(message: Partial<AgentMessage>): Uint8Array {
  const { result, ...envelope } = message;
  const head = AgentMessage.encode(AgentMessage.fromPartial(envelope)).finish();
  if (!result) return head;
  const body = earlierEncoding(result) ?? TargetResult.encode(result).finish();
  const length = varint(body.length);
  const out = new Uint8Array(head.length + 1 + length.length + body.length);
  out.set(head, 0);
  out[head.length] = RESULT_TAG;
  out.set(length, head.length + 1);
  out.set(body, head.length + 1 + length.length);
  return out;
}

/**
 * The encoded size of an AgentMessage holding only these two strings (fields 1 and 2), as
 * AgentMessage.encode writes it (an empty string is not written), counted instead of encoded: the
 * room a task's result leaves for the envelope.
 */
export function envelopeBytes(taskId: string, agentId: string): number {
  return stringFieldBytes(taskId) + stringFieldBytes(agentId);
}

function stringFieldBytes(value: string): number {
  if (value === "") return 0;
  const length = Buffer.byteLength(value, "utf8");
  return 1 + varintLength(length) + length;
}

function varintLength(value: number): number {
  let bytes = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 128)) bytes += 1;
  return bytes;
}

function varint(value: number): Uint8Array {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Uint8Array.from(bytes);
}
