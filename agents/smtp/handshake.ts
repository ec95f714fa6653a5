import type { X509Certificate } from "node:crypto";
import { connect as netConnect, isIP, type Socket } from "node:net";
import { createSecureContext, rootCertificates, type SecureContext } from "node:tls";
import {
  HandshakeResult,
  Outcome,
  Phase,
  TlsMode,
  type PhaseTiming,
  type Reply,
  type TlsInfo,
} from "../../gen/smtpprobe/v1/handshake.js";
import { formatHostPort } from "../../lib/host-port.js";
import { heloCapabilities, parseEhloReply } from "./ehlo.js";
import {
  bannerNotReceived,
  cancelledByCaller,
  classifyConnectError,
  classifyUnexpectedReply,
  classifyWaitError,
  connectedPeerDenied,
  deadlinePassed,
  describePhaseWait,
  greetingRefused,
  internalError,
  starttlsRefused,
  type HandshakeFailure,
} from "./failure-mapping.js";
import { defaultFindingFacts, deriveFindings } from "./findings.js";
import { addressLiteral, type ResolvedOptions } from "./options.js";
import { describeReply, parseEnhancedCode } from "./reply-meaning.js";
import type { ReplyMoment } from "./reply-moment.js";
import { SessionWaitError, SmtpSession, waitForSocketEvent, type SessionReply } from "./session.js";
import { presentedChain, readTlsFacts } from "./tls-facts.js";
import { elapsedSince, escapeLine, round2, TranscriptRecorder } from "./transcript.js";

/** One address to talk to, and the names it came from. */
export interface HandshakeTarget {
  /** The name (or IP literal) the address belongs to; the certificate is checked against it. */
  host: string;
  /** The IP address to connect to: already resolved and checked against the policy. */
  address: string;
  port: number;
  exchange?: string;
  mxPreference?: number;
}

export interface HandshakeProgress {
  host: string;
  address: string;
  port: number;
  phase: Phase;
}

export interface HandshakeContext {
  signal?: AbortSignal;
  onProgress?: (progress: HandshakeProgress) => void;
  /** Extra trusted CAs (PEM), added to Node's store. */
  extraCa?: string;
  /** When the whole probe ends (a `performance.now()` reading); default: now + options.deadlineMs. */
  deadlineAt?: number;
  /**
   * Asked once the TCP connection is up, with the peer as the socket reports it: why the
   * connection must not be used, or undefined. A reason closes it at once, before a byte is read
   * or sent (OUTCOME_POLICY_DENIED). agents/smtp/probe-target.ts passes the target policy.
   */
  checkConnected?: (remoteAddress: string, remotePort: number) => string | undefined;
  /** Given the certificates the server presented, leaf first, once TLS is up (DANE matches them: mail-policy/dane.ts). */
  onPeerChain?: (chain: X509Certificate[]) => void;
}

/** A handshake that cannot go on: the target misbehaved, the network failed, or time ran out. */
class HandshakeStop extends Error {
  override readonly name = "HandshakeStop";
  constructor(
    readonly failure: HandshakeFailure,
    readonly reply?: Reply,
  ) {
    super(failure.reason);
  }
}

type Step = (h: Handshake) => Promise<Phase>;

/** A reply as the result keeps it, and what it answered (reply-moment.ts). */
interface Answer {
  reply: Reply;
  moment: ReplyMoment;
}

/** The reply answers this command, not something before it nor nothing at all. */
function answers(answer: Answer, verb: string): boolean {
  return answer.moment.kind === "command" && answer.moment.verb === verb;
}

/**
 * The state machine: each phase's step returns the next phase. The table of what may follow
 * what is checked at every transition, so a step cannot wander.
 */
const NEXT: Record<number, readonly Phase[]> = {
  [Phase.PHASE_CONNECT]: [Phase.PHASE_TLS_CONNECT, Phase.PHASE_BANNER],
  [Phase.PHASE_TLS_CONNECT]: [Phase.PHASE_BANNER],
  [Phase.PHASE_BANNER]: [Phase.PHASE_EHLO, Phase.PHASE_EHLO_TLS],
  [Phase.PHASE_EHLO]: [Phase.PHASE_HELO, Phase.PHASE_STARTTLS, Phase.PHASE_QUIT],
  [Phase.PHASE_HELO]: [Phase.PHASE_STARTTLS, Phase.PHASE_QUIT],
  [Phase.PHASE_STARTTLS]: [Phase.PHASE_TLS],
  [Phase.PHASE_TLS]: [Phase.PHASE_EHLO_TLS],
  [Phase.PHASE_EHLO_TLS]: [Phase.PHASE_QUIT],
  [Phase.PHASE_QUIT]: [Phase.PHASE_DONE],
};

const STEPS: Record<number, Step> = {
  [Phase.PHASE_CONNECT]: async (h) => {
    await h.connect();
    return h.options.tlsMode === TlsMode.TLS_MODE_IMPLICIT ? Phase.PHASE_TLS_CONNECT : Phase.PHASE_BANNER;
  },
  [Phase.PHASE_TLS_CONNECT]: async (h) => {
    await h.startTls(true);
    return Phase.PHASE_BANNER;
  },
  [Phase.PHASE_BANNER]: async (h) => {
    h.collectTlsFacts(); // implicit TLS: while the greeting is on its way
    const answer = await h.readBanner();
    h.result.banner = answer.reply;
    // RFC 5321 §3.1: after a 554 (or 421) greeting the client should still say QUIT.
    if (answer.reply.code !== 220) await h.quit();
    h.expect(answer, 220, "the banner");
    return h.session.isTls ? Phase.PHASE_EHLO_TLS : Phase.PHASE_EHLO;
  },
  [Phase.PHASE_EHLO]: async (h) => {
    const answer = await h.command(`EHLO ${h.ehloName}`);
    const { code } = answer.reply;
    if (answers(answer, "EHLO")) {
      // RFC 5321 §3.2: a server that does not know EHLO answers 500/502; the client falls back to HELO.
      if (code >= 500 && code <= 504) return Phase.PHASE_HELO;
      if (code >= 400) await h.refuseGreeting(answer, "EHLO");
    }
    h.expect(answer, 250, "EHLO");
    h.result.capabilities = parseEhloReply(answer.reply.lines);
    return h.afterPlaintextGreeting(h.result.capabilities.starttls);
  },
  [Phase.PHASE_HELO]: async (h) => {
    const answer = await h.command(`HELO ${h.ehloName}`);
    if (answers(answer, "HELO") && answer.reply.code >= 400) await h.refuseGreeting(answer, "HELO");
    h.expect(answer, 250, "HELO");
    h.result.capabilities = heloCapabilities(answer.reply.lines[0] ?? "");
    return h.afterPlaintextGreeting(false);
  },
  [Phase.PHASE_STARTTLS]: async (h) => {
    const answer = await h.command("STARTTLS");
    const { reply } = answer;
    if (reply.code !== 220 && h.options.tlsMode === TlsMode.TLS_MODE_REQUIRE) throw new HandshakeStop(starttlsRefused(reply), reply);
    // In auto mode the server offered STARTTLS and then refused it: say goodbye, report the refusal.
    if (reply.code !== 220) await h.quit();
    h.expect(answer, 220, "STARTTLS");
    return Phase.PHASE_TLS;
  },
  [Phase.PHASE_TLS]: async (h) => {
    await h.startTls(false);
    return Phase.PHASE_EHLO_TLS;
  },
  [Phase.PHASE_EHLO_TLS]: async (h) => {
    // RFC 3207 §4.2: the client forgets what it knew and asks again over TLS.
    h.session.send(`EHLO ${h.ehloName}`);
    h.collectTlsFacts(); // while the server answers
    const answer = await h.read(h.options.commandMs);
    if (answers(answer, "EHLO") && answer.reply.code >= 400) await h.refuseGreeting(answer, "EHLO over TLS");
    h.expect(answer, 250, "EHLO over TLS");
    h.result.capabilitiesTls = parseEhloReply(answer.reply.lines);
    return Phase.PHASE_QUIT;
  },
  [Phase.PHASE_QUIT]: async (h) => {
    await h.quit();
    return Phase.PHASE_DONE;
  },
};

/**
 * Runs one SMTP handshake against one address. Always returns a result: a server that
 * misbehaves, a network that fails, a deadline that passes are all data. Only a bug throws.
 */
export async function runHandshake(
  target: HandshakeTarget,
  options: ResolvedOptions,
  context: HandshakeContext = {},
): Promise<HandshakeResult> {
  const handshake = new Handshake(target, options, context);
  return handshake.run();
}

class Handshake {
  readonly result: HandshakeResult;
  readonly transcript: TranscriptRecorder;
  session!: SmtpSession;
  private readonly start = performance.now();
  private readonly startedAt = new Date();
  private readonly timings: PhaseTiming[] = [];
  /** Set once when the probe is aborted; `stopped` rejects with it. */
  private stopReason: HandshakeStop | undefined;
  private rejectStopped: ((stop: HandshakeStop) => void) | undefined;
  private readonly stopped = new Promise<never>((_resolve, reject) => (this.rejectStopped = reject));
  private phase: Phase = Phase.PHASE_CONNECT;
  private pendingTlsFacts: (() => TlsInfo) | undefined;
  /** The name sent in EHLO/HELO: the configured one, or an address literal known after connect. */
  ehloName: string;
  private socket: Socket | undefined;

  constructor(
    readonly target: HandshakeTarget,
    readonly options: ResolvedOptions,
    private readonly context: HandshakeContext,
  ) {
    void this.stopped.catch(() => undefined); // rejected even when no step is waiting on it
    this.transcript = new TranscriptRecorder(this.start, options.maxTranscriptBytes);
    this.ehloName = options.ehloName;
    this.result = HandshakeResult.fromPartial({
      host: target.host,
      address: target.address,
      port: target.port,
      exchange: target.exchange ?? "",
      mxPreference: target.mxPreference ?? 0,
      tlsMode: options.tlsMode,
      portRole: options.portRole,
      ehloName: options.ehloName,
      startedAt: this.startedAt,
    });
  }

  async run(): Promise<HandshakeResult> {
    const deadlineAt = this.context.deadlineAt ?? this.start + this.options.deadlineMs;
    const deadline = setTimeout(() => this.abort("deadline"), Math.max(0, deadlineAt - performance.now()));
    const onAbort = (): void => this.abort("cancelled");
    this.context.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      if (this.context.signal?.aborted) this.abort("cancelled");
      while (this.phase !== Phase.PHASE_DONE) {
        this.context.onProgress?.({ host: this.target.host, address: this.target.address, port: this.target.port, phase: this.phase });
        const began = performance.now();
        const step = STEPS[this.phase];
        if (!step) throw new Error(`no step for phase ${Phase[this.phase]}`);
        let next: Phase;
        try {
          next = await this.guard(step(this));
        } finally {
          this.timings.push({
            phase: this.phase,
            startMs: round2(began - this.start),
            durationMs: round2(performance.now() - began),
          });
        }
        if (!NEXT[this.phase]?.includes(next)) {
          throw new Error(`bad transition ${Phase[this.phase]} → ${Phase[next]}`);
        }
        this.phase = next;
      }
      this.result.outcome = Outcome.OUTCOME_OK;
      this.result.phase = Phase.PHASE_DONE;
    } catch (error) {
      this.recordStop(error);
    } finally {
      clearTimeout(deadline);
      this.collectTlsFacts(); // a stop right after TLS: the facts are still worth having
      this.context.signal?.removeEventListener("abort", onAbort);
      this.session?.destroy();
      this.socket?.destroy();
      this.transcript.event("closed", this.session?.isTls ?? false);
    }
    this.result.timings = this.timings;
    this.result.totalMs = elapsedSince(this.start);
    this.result.transcript = this.transcript.toMessage();
    this.result.findings = deriveFindings(this.result, {
      ...defaultFindingFacts(this.startedAt),
      longestLineOctets: this.session?.longestLineOctets ?? 0,
    });
    return this.result;
  }

  /**
   * Rejects as soon as the probe is aborted, whatever the step is waiting for. One promise per
   * handshake serves every step (an AbortSignal listener per step costs more, bench:engine).
   */
  private guard<T>(work: Promise<T>): Promise<T> {
    if (this.stopReason) {
      work.catch(() => undefined);
      return Promise.reject(this.stopReason);
    }
    return Promise.race([work, this.stopped]);
  }

  private abort(why: "deadline" | "cancelled"): void {
    if (this.stopReason) return;
    const stop = new HandshakeStop(why === "deadline" ? deadlinePassed(this.options.deadlineMs) : cancelledByCaller());
    this.transcript.event(why === "deadline" ? "deadline exceeded" : "cancelled", this.session?.isTls ?? false);
    this.stopReason = stop;
    this.rejectStopped?.(stop);
    this.collectTlsFacts();
    // Close the socket at once: nothing more is read or sent.
    this.session?.destroy();
    this.socket?.destroy();
  }

  async connect(): Promise<void> {
    const { address, port } = this.target;
    const socket = netConnect({ host: address, port, family: isIP(address) || undefined });
    this.socket = socket;
    // The engine adds no Nagle stall of its own: every command is one small write.
    socket.setNoDelay(true);
    await waitForSocketEvent(socket, "connect", this.options.connectMs).catch((error: unknown) => {
      socket.destroy();
      throw new HandshakeStop(classifyConnectError(error, formatHostPort(address, port)));
    });
    const denied = this.context.checkConnected?.(socket.remoteAddress ?? "", socket.remotePort ?? 0);
    if (denied !== undefined) {
      socket.destroy();
      throw new HandshakeStop(connectedPeerDenied(denied));
    }
    this.transcript.event(`connected to ${formatHostPort(address, port)} from ${formatHostPort(socket.localAddress ?? "", socket.localPort ?? 0)}`, false);
    if (!this.ehloName) this.ehloName = this.result.ehloName = addressLiteral(socket.localAddress ?? "0.0.0.0");
    this.session = new SmtpSession(socket, this.transcript, {
      maxLineOctets: this.options.maxLineOctets,
      maxReplyLines: this.options.maxReplyLines,
    });
  }

  async startTls(implicit: boolean): Promise<void> {
    const sni = this.sniName();
    const checkedName = this.options.sni || this.target.host;
    const began = performance.now();
    const tlsPhase = this.phase;
    let upgraded;
    try {
      upgraded = await this.session.startTls(
        {
          servername: sni || undefined,
          // A probe reports a bad certificate, it does not fail because of one (docs/design.md §2).
          rejectUnauthorized: false,
          // The identity is checked apart (tls-facts), so that authorizationError means the chain only.
          checkServerIdentity: () => undefined,
          secureContext: clientContext(this.context.extraCa),
        },
        this.options.tlsMs,
      );
    } catch (error) {
      throw this.waitFailure(error, "the TLS handshake");
    }
    if (upgraded.discarded.length > 0) {
      // RFC 3207 §6: never act on plaintext that arrived before TLS; record it as an attack sign.
      this.result.starttlsInjection = escapeLine(upgraded.discarded.toString("latin1")).slice(0, 1024);
      this.transcript.event(`discarded ${upgraded.discarded.length} bytes sent in plaintext after the STARTTLS reply`, false);
    }
    const socket = upgraded.socket;
    const cipher = socket.getCipher();
    this.transcript.event(`TLS established: ${socket.getProtocol() ?? ""} ${cipher?.standardName ?? cipher?.name ?? ""}`, true);
    const context = { implicit, sni, checkedName, now: this.startedAt, extraCa: this.context.extraCa };
    const handshakeMs = round2(performance.now() - began);
    // One clock for one handshake: the TLS block reports the phase's own timing, so the two never
    // disagree; the reading above serves only when the facts are read before that timing is kept.
    this.pendingTlsFacts = () => readTlsFacts(socket, { ...context, handshakeMs: this.phaseDurationMs(tlsPhase) ?? handshakeMs });
    this.context.onPeerChain?.(presentedChain(socket));
  }

  /**
   * Reads the TLS facts (the chain parsed, trust, names): a few hundred microseconds of CPU, so it
   * runs while the server works on our next command (EHLO sent, or the greeting on its way) instead
   * of before it. Always before the socket is destroyed.
   */
  collectTlsFacts(): void {
    const read = this.pendingTlsFacts;
    this.pendingTlsFacts = undefined;
    if (read) this.result.tls = read();
  }

  private phaseDurationMs(phase: Phase): number | undefined {
    return this.timings.find((timing) => timing.phase === phase)?.durationMs;
  }

  /** What follows a plaintext EHLO or HELO, by TLS mode and what the server offered. */
  afterPlaintextGreeting(offersStartTls: boolean): Phase {
    switch (this.options.tlsMode) {
      case TlsMode.TLS_MODE_NONE:
        return Phase.PHASE_QUIT;
      case TlsMode.TLS_MODE_REQUIRE:
        // Sent even when not advertised: a hidden STARTTLS still counts, a missing one is the answer.
        return Phase.PHASE_STARTTLS;
      default:
        return offersStartTls ? Phase.PHASE_STARTTLS : Phase.PHASE_QUIT;
    }
  }

  async read(timeoutMs: number): Promise<Answer> {
    try {
      return toAnswer(await this.session.readReply(timeoutMs));
    } catch (error) {
      throw this.waitFailure(error, describePhaseWait(this.phase));
    }
  }

  /** The banner; its timeout tells silence (NO_BANNER) from bytes that made no reply. */
  async readBanner(): Promise<Answer> {
    const timeoutMs = this.options.bannerMs;
    try {
      return toAnswer(await this.session.readReply(timeoutMs));
    } catch (error) {
      if (error instanceof SessionWaitError && error.failure.kind === "timeout") {
        throw new HandshakeStop(bannerNotReceived(timeoutMs, this.session.receivedOctets, this.session.firstBytes));
      }
      throw this.waitFailure(error, describePhaseWait(this.phase));
    }
  }

  async command(line: string): Promise<Answer> {
    this.session.send(line);
    return this.read(this.options.commandMs);
  }

  /** Stops the handshake unless the reply has the expected code. */
  expect(answer: Answer, code: number, what: string): void {
    const { reply } = answer;
    if (reply.code === code) return;
    this.result.lastReply = reply;
    throw new HandshakeStop(classifyUnexpectedReply(reply, code, what, answer.moment.kind === "unsolicited"), reply);
  }

  /** The server refused our greeting: QUIT, politely (RFC 5321 §4.1.1.10), and stop. */
  async refuseGreeting(answer: Answer, command: string): Promise<never> {
    await this.quit();
    this.result.lastReply = answer.reply;
    throw new HandshakeStop(greetingRefused(answer.reply, command), answer.reply);
  }

  /** QUIT, politely: the answer is waited for briefly, and its absence changes nothing. */
  async quit(): Promise<void> {
    try {
      await this.session.command("QUIT", Math.min(this.options.commandMs, 2000));
    } catch {
      // The server may close without a 221; the handshake is over either way.
    }
  }

  private sniName(): string {
    if (this.options.sni) return this.options.sni;
    // RFC 6066 §3: literal IP addresses are not permitted in SNI.
    return isIP(this.target.host) === 0 ? this.target.host.replace(/\.$/, "") : "";
  }

  /** Turns a failed wait into the stop it means; anything else is a bug and goes on up. */
  private waitFailure(error: unknown, what: string): HandshakeStop {
    if (error instanceof HandshakeStop) return error;
    const failure = classifyWaitError(error, what, this.phase);
    if (!failure) throw error;
    return new HandshakeStop(failure);
  }

  private recordStop(error: unknown): void {
    const stop = error instanceof HandshakeStop ? error : new HandshakeStop(internalError(error));
    const { outcome, source, reason } = stop.failure;
    this.result.outcome = outcome;
    this.result.phase = this.phase;
    this.result.failureSource = source;
    this.result.reason = reason;
    if (stop.reply) this.result.lastReply = stop.reply;
    // Every stop is visible in the transcript, not only in the result's reason.
    if (outcome !== Outcome.OUTCOME_DEADLINE_EXCEEDED && outcome !== Outcome.OUTCOME_CANCELLED) {
      this.transcript.event(`${Outcome[outcome].replace("OUTCOME_", "").toLowerCase()}: ${reason}`, this.session?.isTls ?? false);
    }
  }
}

/**
 * One TLS client context per set of trusted CAs, made once: building it is a third of a
 * millisecond of CPU per handshake otherwise (bench:engine).
 */
const clientContexts = new Map<string, SecureContext>();
function clientContext(extraCa: string | undefined): SecureContext {
  const key = extraCa ?? "";
  let context = clientContexts.get(key);
  if (!context) {
    if (clientContexts.size >= 16) clientContexts.clear();
    context = createSecureContext({
      ca: extraCa ? [...rootCertificates, extraCa] : undefined,
      minVersion: "TLSv1",
      // OpenSSL's default security level refuses TLS 1.0/1.1 signatures and small keys outright;
      // a probe must complete such a handshake to report it (tls_version_old, cert_weak_key).
      ciphers: "DEFAULT@SECLEVEL=0",
    });
    clientContexts.set(key, context);
  }
  return context;
}

/** A reply as the result keeps it, its meaning the one its moment gives it. */
function toAnswer(reply: SessionReply): Answer {
  const enhancedCode = parseEnhancedCode(reply.code, reply.lines[0] ?? "") ?? "";
  const meaning = describeReply(reply.code, enhancedCode || undefined, reply.moment);
  return { reply: { code: reply.code, enhancedCode, lines: reply.lines, meaning }, moment: reply.moment };
}


