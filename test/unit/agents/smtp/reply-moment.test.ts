import { describe, expect, it } from "vitest";
import { commandVerb, ReplyMoments, type ReplyMoment } from "../../../../agents/smtp/reply-moment.js";

/** Runs a conversation: "> line" sent by the client, "< line" by the server, "tls" TLS starts. */
function momentsOf(conversation: readonly string[]): (ReplyMoment | undefined)[] {
  const moments = new ReplyMoments();
  const out: (ReplyMoment | undefined)[] = [];
  for (const step of conversation) {
    if (step === "tls") moments.dropUnfinished();
    else if (step.startsWith("> ")) moments.sent(step.slice(2));
    else out.push(moments.received(step.slice(2)));
  }
  return out;
}

const banner = { kind: "banner" };
const unsolicited = { kind: "unsolicited" };
const to = (verb: string): ReplyMoment => ({ kind: "command", verb });

describe("ReplyMoments", () => {
  it.each<{ name: string; conversation: string[]; moments: (object | undefined)[] }>([
    { name: "the first reply before any command is the banner", conversation: ["< 220 mx ESMTP"], moments: [banner] },
    { name: "a multi-line banner ends on its last line", conversation: ["< 220-mx", "< 220-hello", "< 220 ESMTP"], moments: [undefined, undefined, banner] },
    { name: "a bare code is a last line", conversation: ["< 220"], moments: [banner] },
    {
      name: "each reply answers the command before it",
      conversation: ["< 220 mx", "> EHLO probe.test", "< 250-mx", "< 250 STARTTLS", "> STARTTLS", "< 220 go", "tls", "> EHLO probe.test", "< 250 mx", "> QUIT", "< 221 bye"],
      moments: [banner, undefined, to("EHLO"), to("STARTTLS"), to("EHLO"), to("QUIT")],
    },
    { name: "a reply while no command waits is unsolicited (an idle timeout)", conversation: ["< 220 mx", "> EHLO x", "< 250 mx", "< 421 4.4.2 timeout exceeded"], moments: [banner, to("EHLO"), unsolicited] },
    { name: "a second reply to one command is unsolicited, and the next command gets its own", conversation: ["< 220 mx", "> EHLO x", "< 250 ok", "< 421 bye", "> HELO x", "< 250 ok"], moments: [banner, to("EHLO"), unsolicited, to("HELO")] },
    { name: "a reply sent before the command it would answer is unsolicited", conversation: ["< 220 mx", "< 421 closing", "> EHLO x", "< 250 late"], moments: [banner, unsolicited, to("EHLO")] },
    { name: "pipelined commands are answered in order (RFC 2920)", conversation: ["< 220 mx", "> MAIL FROM:<>", "> RCPT TO:<a@b>", "< 250 ok", "< 550 no"], moments: [banner, to("MAIL"), to("RCPT")] },
    { name: "a reply cut short by TLS never ends, and the next one is judged afresh", conversation: ["< 220 mx", "> STARTTLS", "< 220 go", "< 250-EVIL", "tls", "> EHLO x", "< 250 mx"], moments: [banner, to("STARTTLS"), undefined, to("EHLO")] },
    { name: "the client speaking first: the first reply answers it", conversation: ["> EHLO x", "< 250 mx"], moments: [to("EHLO")] },
  ])("$name", ({ conversation, moments }) => {
    expect(momentsOf(conversation)).toEqual(moments);
  });

  it("keeps a bounded number of unanswered commands", () => {
    const moments = new ReplyMoments();
    moments.received("220 mx");
    for (let i = 0; i < 10_000; i += 1) moments.sent("NOOP");
    let answered = 0;
    while (moments.received("250 ok")?.kind === "command") answered += 1;
    expect(answered).toBe(64);
  });
});

describe("commandVerb", () => {
  it.each([
    ["EHLO probe.test", "EHLO"],
    ["ehlo probe.test", "EHLO"],
    ["STARTTLS", "STARTTLS"],
    ["MAIL FROM:<>", "MAIL"],
    ["HELO\t[192.0.2.1]", "HELO"],
    ["", ""],
  ])("%j → %j", (line, verb) => {
    expect(commandVerb(line)).toBe(verb);
  });
});
