// The public API's descriptors (smtpprobe.v1 and google.rpc, as buf compiled them into
// gen/descriptors/) as a @bufbuild/protobuf registry: what the HTTP/JSON API checks request JSON
// against, writes google.rpc.Status in the JSON mapping with, and the OpenAPI document is made
// from. Built once, on first use (a few milliseconds).
import { createFileRegistry, fromBinary, type DescMessage, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { SMTPPROBE_V1_DESCRIPTOR_SET } from "../gen/descriptors/descriptor-sets.js";

let registry: FileRegistry | undefined;

export function apiRegistry(): FileRegistry {
  registry ??= createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(SMTPPROBE_V1_DESCRIPTOR_SET, "base64")));
  return registry;
}

/** A message of the public API by its full name ("smtpprobe.v1.ProbeRequest"); throws for a name it lacks (our bug). */
export function apiMessage(typeName: string): DescMessage {
  const message = apiRegistry().getMessage(typeName);
  if (!message) throw new Error(`${typeName} is not in the public API's descriptors (npm run gen)`);
  return message;
}
