// One protobuf encoding per message object, shared by whoever writes it: the coordinator stores a
// finished report (report-store.ts) and answers the caller with it (grpc-service.ts's response
// serializer), and the report is the largest message it sends (transcripts, certificate chains).
// Keyed by the object itself (a WeakMap: gone with it). Only for messages that are final once
// built: a message changed after its first encoding would be sent as it was then.
const encodings = new WeakMap<object, Uint8Array>();

export interface Encoder<T> {
  encode(message: T): { finish(): Uint8Array };
}

/** The message's encoding, made at the first call for this object and kept with it. */
export function encodeOnce<T extends object>(type: Encoder<T>, message: T): Uint8Array {
  let bytes = encodings.get(message);
  if (!bytes) {
    bytes = type.encode(message).finish();
    encodings.set(message, bytes);
  }
  return bytes;
}

/** An encoding made before for this very object (encodeOnce), if any. */
export function earlierEncoding(message: unknown): Uint8Array | undefined {
  return typeof message === "object" && message !== null ? encodings.get(message) : undefined;
}
