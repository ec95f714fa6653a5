// Random ids as hex from the CSPRNG, drawn from a pooled buffer: a trace id and a span id per
// probe, a reply token per request. node's randomBytes() makes one call into OpenSSL per id; the
// pool makes one per 4 KiB, as node's randomUUID() does for its own. Every byte is used once.
import { randomFillSync } from "node:crypto";

const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

/** `bytes` random bytes (at most 4096), as 2 × bytes lowercase hex digits. */
export function randomHex(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > POOL_BYTES) throw new RangeError(`randomHex: ${bytes} bytes, not 1 to ${POOL_BYTES}`);
  if (offset + bytes > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    offset = 0;
  }
  const text = pool.toString("hex", offset, offset + bytes);
  offset += bytes;
  return text;
}
