import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Outcome } from "../../../../gen/smtpprobe/v1/handshake.js";
import { testPki } from "../../../helpers/certs.js";
import { postfixAvailable, startPostfix, type PostfixInstance } from "../../../helpers/postfix.js";
import { need } from "../../../helpers/requirements.js";
import { probeOnce, sent } from "./probe-helpers.js";

// A real peer: Debian's Postfix, a private instance on a free port with its own config directory.
const postfix = await need(postfixAvailable);

describe.skipIf(postfix.skip)("against a real Postfix", () => {
  let instance: PostfixInstance;
  let caPem: string;
  beforeAll(async () => {
    const pki = await testPki();
    caPem = pki.ca.certPem;
    const leaf = await pki.leaf({ names: ["postfix.test"] });
    instance = await startPostfix({ ...leaf, myhostname: "postfix.test" });
  });
  afterAll(async () => {
    await instance?.stop();
  });

  it("parses what Postfix advertises, before and after TLS", async () => {
    const r = await probeOnce(instance.port, { sni: "postfix.test" }, { extraCa: caPem });
    expect(r.outcome, instance.logs()).toBe(Outcome.OUTCOME_OK);
    expect(r.banner?.lines[0]).toBe("postfix.test ESMTP Postfix");
    const before = r.capabilities!;
    expect(before.greeting).toBe("postfix.test");
    expect(before).toMatchObject({
      size: 10240000,
      pipelining: true,
      starttls: true,
      enhancedStatusCodes: true,
      eightBitMime: true,
      dsn: true,
      smtputf8: true,
      chunking: true,
    });
    expect(before.other).toEqual(["VRFY", "ETRN"]);
    const after = r.capabilitiesTls!;
    expect(after.starttls).toBe(false);
    expect({ ...after, starttls: true }).toEqual(before);
    expect(r.tls?.trusted).toBe(true);
    expect(r.tls?.nameMatches).toBe(true);
    expect(r.tls?.chain).toHaveLength(1);
    expect(r.tls?.protocol).toBe("TLSv1.3");
    expect(sent(r)).toEqual(["EHLO probe.test", "STARTTLS", "EHLO probe.test", "QUIT"]);
    expect(r.findings).toEqual([]);
  });
});
