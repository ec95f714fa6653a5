// fast-check arbitraries of ProbeRequests as a hostile caller could send them: every field within
// what the protobuf wire can carry (uint32 ports and timeouts, int32 enums, any Unicode text),
// biased towards the edges the validator has to judge (CR/LF, dots, brackets, IP forms, long
// names, duplicates, out-of-range numbers). For the validator's property tests, unit and e2e.
import fc from "fast-check";
import { ProbeRequest } from "../../gen/smtpprobe/v1/probe_service.js";

const UINT32_MAX = 2 ** 32 - 1;
const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

const uint32 = fc.oneof(fc.constantFrom(0, 1, 25, 465, 587, 2525, 65535, 65536, UINT32_MAX), fc.integer({ min: 0, max: UINT32_MAX }));
const enumValue = fc.oneof(fc.integer({ min: -1, max: 8 }), fc.integer(INT32));
const nasty = fc.constantFrom("", ".", "..", "-", "*", ">", "\r\n", "\n", "\u0000", " ", "[", "]", "%eth0", "xn--", "ⓐ", "\u200b", "é", "0x7f", "::", "a".repeat(64));

const text = (maxLength: number): fc.Arbitrary<string> =>
  fc.oneof(fc.string({ maxLength }), fc.string({ unit: "grapheme", maxLength }), fc.array(nasty, { maxLength: 8 }).map((parts) => parts.join("")));

export const hostArbitrary: fc.Arbitrary<string> = fc.oneof(
  text(80),
  fc.domain(),
  fc.ipV4(),
  fc.ipV4Extended(),
  fc.ipV6(),
  fc.ipV6().map((ip) => `[${ip}]`),
  fc.tuple(fc.domain(), nasty).map(([d, n]) => `${d}${n}`),
  fc.integer({ min: 250, max: 300 }).map((n) => `${"a".repeat(63)}.`.repeat(Math.ceil(n / 64)).slice(0, n)),
);

/** Mostly a plausible value, sometimes a hostile one: so that many requests get past every field. */
function mostly<T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ weight: 4, arbitrary: good }, { weight: 1, arbitrary: bad });
}

const smallMs = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 60_000 }));
const options = fc.record(
  {
    tlsMode: mostly(fc.integer({ min: 0, max: 3 }), enumValue),
    ehloName: mostly(fc.domain(), text(40)),
    sni: mostly(fc.domain(), text(40)),
    addressFamily: mostly(fc.integer({ min: 0, max: 2 }), enumValue),
    maxExchangers: mostly(fc.integer({ min: 0, max: 5 }), uint32),
    maxAddresses: mostly(fc.integer({ min: 0, max: 5 }), uint32),
    timeouts: fc.record(
      { connectMs: mostly(smallMs, uint32), bannerMs: mostly(smallMs, uint32), commandMs: mostly(smallMs, uint32), tlsMs: mostly(smallMs, uint32), deadlineMs: mostly(smallMs, uint32) },
      { requiredKeys: [] },
    ),
    limits: fc.record({ maxLineOctets: mostly(fc.constant(0), uint32), maxReplyLines: mostly(fc.constant(0), uint32), maxTranscriptBytes: mostly(fc.constant(0), uint32) }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);

export interface RequestArbitraryOptions {
  /** Never generate these ports (the e2e test keeps every generated probe away from the one port it allows). */
  excludePorts?: readonly number[];
}

export function probeRequestArbitrary(opts: RequestArbitraryOptions = {}): fc.Arbitrary<ProbeRequest> {
  const excluded = new Set(opts.excludePorts ?? []);
  const port = uint32.filter((p) => !excluded.has(p));
  return fc
    .record(
      {
        host: mostly(fc.oneof(fc.domain(), fc.ipV4()), hostArbitrary),
        mx: mostly(fc.constant(false), fc.boolean()),
        ports: mostly(
          fc.uniqueArray(fc.oneof(fc.constantFrom(25, 465, 587, 2525), fc.integer({ min: 1, max: 65535 })).filter((p) => !excluded.has(p)), { maxLength: 4 }),
          fc.oneof(fc.array(port, { maxLength: 10 }), fc.array(port, { minLength: 9, maxLength: 40 })),
        ),
        regions: mostly(
          fc.subarray(["local", "eu-west", "us-east", "ap-south"]),
          fc.array(fc.oneof(fc.constantFrom("local", "eu-west", "EU", "a.b", "*", ""), text(70)), { maxLength: 40 }),
        ),
        options: mostly(fc.constant({}), options),
        tlsModes: mostly(fc.constant({}), fc.dictionary(port.map(String), enumValue, { maxKeys: 10 })),
        portRoles: mostly(fc.constant({}), fc.dictionary(port.map(String), enumValue, { maxKeys: 10 })),
        idempotencyKey: mostly(fc.stringMatching(/^[a-z0-9-]{0,40}$/), fc.oneof(text(40), fc.string({ minLength: 120, maxLength: 200 }))),
      },
      { requiredKeys: [] },
    )
    .map((partial) => ProbeRequest.fromPartial(partial as Parameters<typeof ProbeRequest.fromPartial>[0]));
}
