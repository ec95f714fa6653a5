// Which moment of the conversation a reply answers: the greeting, one of our commands, or nothing
// at all (the server spoke on its own, e.g. to close an idle session). The meaning of a code
// depends on it (reply-meaning.ts): 550 as a banner refuses the client, 550 to RCPT a mailbox.
//
// The rule is decided from the order of lines alone, as a protocol analyser would: commands are
// answered in the order they were sent (RFC 5321 §4.2, and RFC 2920 for pipelining), so a reply
// that begins while a command is unanswered answers the oldest such command; the first reply
// before any command is the banner; any other reply is unsolicited. The session applies it as
// bytes arrive and the transcript's readers replay it on the recorded lines, so both give the
// same moment, and so the same meaning, to every reply.

export type ReplyMoment =
  /** The greeting the server sends first (RFC 5321 §3.1). */
  | { kind: "banner" }
  /** The answer to a command; `verb` upper case: "EHLO", "STARTTLS". */
  | { kind: "command"; verb: string }
  /** Sent while no command was waiting for an answer: an idle timeout, a shutdown, a stray reply. */
  | { kind: "unsolicited" };

export const BANNER: ReplyMoment = { kind: "banner" };
export const UNSOLICITED: ReplyMoment = { kind: "unsolicited" };

/** Commands kept waiting for an answer, at most: a handshake sends a handful. */
const MAX_UNANSWERED = 64;

/** Follows a conversation line by line and says which moment each reply answers. */
export class ReplyMoments {
  private readonly unanswered: string[] = [];
  private replies = 0;
  private current: ReplyMoment | undefined;

  /** A command line the client sent. */
  sent(line: string): void {
    if (this.unanswered.length < MAX_UNANSWERED) this.unanswered.push(commandVerb(line));
  }

  /**
   * A line the server sent (as the reply reader checked it: "ddd", "ddd text" or "ddd-text").
   * Returns the moment of the reply this line ends, or undefined while the reply goes on.
   */
  received(line: string): ReplyMoment | undefined {
    this.current ??= this.begin();
    // RFC 5321 §4.2: "ddd-" goes on; "ddd " or a bare "ddd" is the last line.
    if (line.charAt(3) === "-") return undefined;
    const moment = this.current;
    this.current = undefined;
    return moment;
  }

  /** TLS starts (RFC 3207 §6): an unfinished reply is discarded and never ends. */
  dropUnfinished(): void {
    this.current = undefined;
  }

  private begin(): ReplyMoment {
    const first = this.replies === 0;
    this.replies += 1;
    const verb = this.unanswered.shift();
    if (verb !== undefined) return { kind: "command", verb };
    return first ? BANNER : UNSOLICITED;
  }
}

/** "EHLO", "STARTTLS": the command's verb, upper case. */
export function commandVerb(line: string): string {
  return (line.trimStart().split(/[ \t]/, 1)[0] ?? "").toUpperCase();
}
