// Keeps a result small enough for one NATS message (1 MiB by default on the server). Pure.
//
// What grows with a hostile or chatty server is the transcript, so that goes first: entries are
// dropped from the largest transcripts first (levelled, so one huge transcript does not cost the
// others theirs), keeping the first lines and the last few (how it ended), with one event entry
// saying how many were dropped. Only if that is not enough are long texts cut everywhere else
// (a 200-line banner of 8 KiB lines is within the engine's default bounds and weighs 1.6 MB).
import {
  Direction,
  Severity,
  TargetResult,
  TranscriptEntry,
  type HandshakeResult,
  type Transcript,
} from "../../gen/smtpprobe/v1/handshake.js";
import { encodeOnce } from "../../lib/encode-once.js";

export interface TrimmedResult {
  /** The input itself when it fit, else a trimmed copy (the input is never changed). */
  result: TargetResult;
  /** Encoded size of `result`. */
  bytes: number;
  /** Encoded size of the input. */
  originalBytes: number;
  /** Transcript entries dropped, over all handshakes. */
  droppedEntries: number;
  /** Texts outside the transcripts were cut too (the transcripts alone were not enough). */
  textsCut: boolean;
  /** False when even the trimmed result is over the bound. */
  fits: boolean;
}

/** The last entries of a transcript are kept: they say how the dialogue ended. */
const KEEP_TAIL = 3;
/** Texts are cut down to this length at most, halving from the first step. */
const TEXT_CAPS = [4096, 2048, 1024, 512, 256, 128] as const;
const ARRAY_CAP = 16;

export function trimResult(input: TargetResult, maxBytes: number): TrimmedResult {
  // Kept with the input: a result that fits is sent as these bytes (agent-message.ts).
  const originalBytes = encodeOnce(TargetResult, input).length;
  if (originalBytes <= maxBytes) {
    return { result: input, bytes: originalBytes, originalBytes, droppedEntries: 0, textsCut: false, fits: true };
  }
  const result = TargetResult.fromPartial(input); // a deep copy of the messages
  let bytes = originalBytes;
  let droppedEntries = 0;
  const trimmed = new Map<HandshakeResult, TranscriptTrim>();
  const notes = new Notes();

  // A few rounds: each one levels the transcripts to cover the excess it measured. The estimate
  // of each entry's cost is a lower bound of what dropping it saves, so rounds rarely repeat.
  for (let round = 0; round < 8 && bytes > maxBytes; round++) {
    const dropped = levelTranscripts(result.handshakes, bytes - maxBytes, trimmed);
    if (dropped === 0) break;
    droppedEntries += dropped;
    for (const [handshake, trim] of trimmed) notes.note(handshake, trim.dropped, false);
    bytes = encodedSize(result);
  }

  let textsCut = false;
  for (const cap of TEXT_CAPS) {
    if (bytes <= maxBytes) break;
    textsCut = true;
    for (const handshake of result.handshakes) {
      cutTexts(handshake, cap);
      notes.note(handshake, trimmed.get(handshake)?.dropped ?? 0, true);
    }
    bytes = encodedSize(result);
  }
  return { result, bytes, originalBytes, droppedEntries, textsCut, fits: bytes <= maxBytes };
}

export function encodedSize(result: TargetResult): number {
  return TargetResult.encode(result).finish().length;
}

interface TranscriptTrim {
  /** Entries dropped so far from this transcript. */
  dropped: number;
  /** Entries before the dropped run (the head kept). */
  head: number;
}

/**
 * An entry's share of the encoded transcript: its fields (as TranscriptEntry.encode writes them,
 * computed rather than encoded: encoding every entry costs more than the whole trim), its tag
 * and its length prefix.
 */
export function entryCost(entry: TranscriptEntry): number {
  const textBytes = Buffer.byteLength(entry.text, "utf8");
  const length =
    (entry.offsetMs !== 0 ? 9 : 0) +
    (entry.direction !== 0 ? 1 + (entry.direction < 0 ? 10 : varintSize(entry.direction)) : 0) +
    (entry.tls ? 2 : 0) +
    (textBytes > 0 ? 1 + varintSize(textBytes) + textBytes : 0);
  return 1 + varintSize(length) + length;
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size += 1;
  }
  return size;
}

/**
 * Drops entries so that the transcripts' total shrinks by at least `excess` bytes, taking from
 * the largest first: every transcript above a level T is cut down to T (water-filling).
 * Returns the number of entries dropped.
 */
function levelTranscripts(handshakes: HandshakeResult[], excess: number, trimmed: Map<HandshakeResult, TranscriptTrim>): number {
  const candidates = handshakes
    .filter((h): h is HandshakeResult & { transcript: Transcript } => h.transcript !== undefined)
    .map((h) => {
      const costs = h.transcript.entries.map(entryCost);
      const state = trimmed.get(h) ?? { dropped: 0, head: Math.max(0, h.transcript.entries.length - KEEP_TAIL) };
      // What can go: the head (the run before the marker and the tail).
      const droppable = costs.slice(0, state.head).reduce((a, b) => a + b, 0);
      return { h, costs, state, droppable };
    })
    .filter((c) => c.droppable > 0)
    .sort((a, b) => b.droppable - a.droppable);
  if (candidates.length === 0) return 0;

  // The level T: the largest value with sum(max(0, droppable_i - T)) >= excess.
  let level = 0;
  let above = 0;
  for (let i = 0; i < candidates.length; i++) {
    above += candidates[i]!.droppable;
    const next = candidates[i + 1]?.droppable ?? 0;
    const t = (above - excess) / (i + 1);
    if (t >= next) {
      level = Math.max(0, Math.floor(t));
      break;
    }
  }

  let dropped = 0;
  for (const { h, costs, state, droppable } of candidates) {
    if (droppable <= level) continue;
    let keptBytes = droppable;
    let head = state.head;
    while (head > 0 && keptBytes > level) {
      head -= 1;
      keptBytes -= costs[head]!;
    }
    const count = state.head - head;
    if (count === 0) continue;
    const entries = h.transcript.entries;
    const marker = state.dropped > 0 ? 1 : 0;
    const tail = entries.slice(state.head + marker);
    const dropNow = entries.slice(head, state.head);
    const total = state.dropped + count;
    const markerAt = dropNow[0]?.offsetMs ?? entries[head]?.offsetMs ?? 0;
    h.transcript.entries = [...entries.slice(0, head), droppedMarker(total, markerAt), ...tail];
    h.transcript.truncated = true;
    h.transcript.bytes = h.transcript.entries.reduce((sum, e) => sum + e.text.length, 0);
    trimmed.set(h, { dropped: total, head });
    dropped += count;
  }
  return dropped;
}

function droppedMarker(count: number, offsetMs: number): TranscriptEntry {
  return {
    offsetMs,
    direction: Direction.DIRECTION_EVENT,
    tls: false,
    text: `${count} transcript entries dropped here by the agent so that the result fits in one message`,
  };
}

/** Cuts every text of a handshake to `cap` characters and every list of texts to a few items. */
function cutTexts(handshake: HandshakeResult, cap: number): void {
  const cut = (text: string): string => (text.length > cap ? `${text.slice(0, cap)}… (cut by the agent)` : text);
  const cutList = (list: string[]): string[] => {
    const kept = list.slice(0, ARRAY_CAP).map(cut);
    if (list.length > ARRAY_CAP) kept.push(`… ${list.length - ARRAY_CAP} more cut by the agent`);
    return kept;
  };
  handshake.reason = cut(handshake.reason);
  handshake.starttlsInjection = cut(handshake.starttlsInjection);
  for (const reply of [handshake.banner, handshake.lastReply, handshake.starttlsEnforcement?.reply]) {
    if (!reply) continue;
    reply.lines = cutList(reply.lines);
    reply.meaning = cut(reply.meaning);
  }
  for (const caps of [handshake.capabilities, handshake.capabilitiesTls]) {
    if (!caps) continue;
    caps.greeting = cut(caps.greeting);
    caps.other = cutList(caps.other);
    caps.authMechanisms = cutList(caps.authMechanisms);
  }
  for (const finding of handshake.findings) finding.message = cut(finding.message);
  if (handshake.starttlsEnforcement) handshake.starttlsEnforcement.reason = cut(handshake.starttlsEnforcement.reason);
  // The TLS profile is bounded by the scan's own bound (48 connections: at most 48 suites and
  // groups); its texts are cut like any, and the per-key-type chains, only shown when they differ,
  // lose their SAN lists first.
  const profile = handshake.tlsProfile;
  if (profile) {
    profile.reason = cut(profile.reason);
    for (const version of profile.versions) {
      version.detail = cut(version.detail);
      for (const cipher of version.ciphers) cipher.reason = cut(cipher.reason);
    }
    for (const { chain } of profile.chains) {
      for (const cert of chain) {
        cert.subject = cut(cert.subject);
        cert.issuer = cut(cert.issuer);
        cert.subjectAltNames = cutList(cert.subjectAltNames);
      }
    }
  }
  if (handshake.transcript) {
    for (const entry of handshake.transcript.entries) entry.text = cut(entry.text);
  }
}

/**
 * Marks a trimmed handshake in its findings (code transcript_truncated, which readers of a result
 * already know), so that a person reading the result knows lines are missing and why.
 */
class Notes {
  /** The engine's own transcript_truncated message, kept in front of ours. */
  private readonly original = new Map<HandshakeResult, string | undefined>();

  note(handshake: HandshakeResult, droppedEntries: number, textsCut: boolean): void {
    const existing = handshake.findings.find((f) => f.code === "transcript_truncated");
    if (!this.original.has(handshake)) this.original.set(handshake, existing?.message);
    const where = `${handshake.address || handshake.host} port ${handshake.port}`;
    const parts: string[] = [];
    if (droppedEntries > 0) parts.push(`${droppedEntries} transcript entries were dropped`);
    if (textsCut) parts.push("long texts were cut");
    if (parts.length === 0) return;
    const ours = `The result for ${where} was too large for one message, so ${parts.join(" and ")} by the agent: some of what the server sent is missing from it.`;
    const message = [this.original.get(handshake), ours].filter(Boolean).join(" ");
    if (existing) existing.message = message;
    else handshake.findings.push({ code: "transcript_truncated", severity: Severity.SEVERITY_INFO, message });
  }
}
