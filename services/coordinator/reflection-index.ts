// Server reflection's answers, from descriptor sets that buf compiled (gen/descriptors/). Each file
// is served as buf wrote it: its real name (google/protobuf/timestamp.proto, which every client
// already knows), its declared dependencies, field names as written in the .proto. Libraries that
// rebuild descriptors from a loaded definition merge the files of a package, drop the imports and
// rename fields, and a client written elsewhere then cannot build the types. Pure: no I/O.
import { fromBinary } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { FileDescriptorProtoSchema, type DescriptorProto, type EnumDescriptorProto, type FieldDescriptorProto } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import type { ServerReflectionRequest, ServerReflectionResponse } from "../../gen/grpc/reflection/v1/reflection.js";

interface IndexedFile {
  name: string;
  /** The FileDescriptorProto as buf encoded it. */
  bytes: Buffer;
  dependencies: string[];
}

export interface ReflectionIndex {
  /** Full names of the services described, sorted: what list_services answers. */
  services: string[];
  files: Map<string, IndexedFile>;
  /** Every full name declared (message, field, oneof, enum, enum value, service, method, extension) → its file. */
  symbols: Map<string, IndexedFile>;
  /** Message full names, for all_extension_numbers_of_type. */
  messages: Set<string>;
  /** Extended message → extension number → the file declaring the extension. */
  extensions: Map<string, Map<number, IndexedFile>>;
}

/** FileDescriptorSet field 1: `repeated FileDescriptorProto file`. */
const FILE_FIELD = 1;

/**
 * Indexes the files of serialized google.protobuf.FileDescriptorSets. Throws when a file imports one
 * that no set holds, or when two sets hold different files of one name: reflection would then
 * serve descriptors a client cannot load, and that is a build mistake to see at start-up.
 */
export function buildReflectionIndex(descriptorSets: readonly Uint8Array[]): ReflectionIndex {
  const index: ReflectionIndex = { services: [], files: new Map(), symbols: new Map(), messages: new Set(), extensions: new Map() };
  for (const bytes of descriptorSets.flatMap(filesOfSet)) {
    const file = fromBinary(FileDescriptorProtoSchema, bytes);
    const known = index.files.get(file.name);
    if (known) {
      if (!known.bytes.equals(bytes)) throw new Error(`reflection: two different descriptors of ${file.name}`);
      continue;
    }
    const indexed: IndexedFile = { name: file.name, bytes: Buffer.from(bytes), dependencies: file.dependency };
    index.files.set(file.name, indexed);
    const scope = file.package === "" ? "" : `${file.package}.`;
    const declare = (fullName: string): void => void index.symbols.set(fullName, indexed);
    const declareExtension = (scopeName: string, extension: FieldDescriptorProto): void => {
      declare(scopeName + extension.name);
      const extendee = extension.extendee.replace(/^\./, "");
      const numbers = index.extensions.get(extendee) ?? new Map<number, IndexedFile>();
      numbers.set(extension.number, indexed);
      index.extensions.set(extendee, numbers);
    };
    const declareEnum = (scopeName: string, enumType: EnumDescriptorProto): void => {
      declare(scopeName + enumType.name);
      // Enum values are scoped as siblings of their enum (protobuf's C++ scoping rules).
      for (const value of enumType.value) declare(scopeName + value.name);
    };
    const declareMessage = (scopeName: string, message: DescriptorProto): void => {
      const fullName = scopeName + message.name;
      declare(fullName);
      index.messages.add(fullName);
      for (const field of message.field) declare(`${fullName}.${field.name}`);
      for (const oneof of message.oneofDecl) declare(`${fullName}.${oneof.name}`);
      for (const nested of message.nestedType) declareMessage(`${fullName}.`, nested);
      for (const enumType of message.enumType) declareEnum(`${fullName}.`, enumType);
      for (const extension of message.extension) declareExtension(`${fullName}.`, extension);
    };
    for (const message of file.messageType) declareMessage(scope, message);
    for (const enumType of file.enumType) declareEnum(scope, enumType);
    for (const extension of file.extension) declareExtension(scope, extension);
    for (const service of file.service) {
      declare(scope + service.name);
      index.services.push(scope + service.name);
      for (const method of service.method) declare(`${scope}${service.name}.${method.name}`);
    }
  }
  for (const file of index.files.values()) {
    const missing = file.dependencies.find((dependency) => !index.files.has(dependency));
    if (missing !== undefined) throw new Error(`reflection: ${file.name} imports ${missing}, which no descriptor set holds`);
  }
  index.services.sort();
  return index;
}

/** One request of the reflection stream, answered (v1 and v1alpha have the same messages). */
export function answerReflectionRequest(index: ReflectionIndex, request: ServerReflectionRequest): ServerReflectionResponse {
  const response: ServerReflectionResponse = { validHost: request.host, originalRequest: request };
  const found = (file: IndexedFile | undefined, notFound: string): ServerReflectionResponse =>
    file
      ? { ...response, fileDescriptorResponse: { fileDescriptorProto: withDependencies(index, file) } }
      : { ...response, errorResponse: { errorCode: status.NOT_FOUND, errorMessage: notFound } };

  if (request.listServices !== undefined) {
    return { ...response, listServicesResponse: { service: index.services.map((name) => ({ name })) } };
  }
  if (request.fileByFilename !== undefined) {
    return found(index.files.get(request.fileByFilename), `file not found: ${request.fileByFilename}`);
  }
  if (request.fileContainingSymbol !== undefined) {
    const symbol = request.fileContainingSymbol.replace(/^\./, "");
    return found(index.symbols.get(symbol), `symbol not found: ${request.fileContainingSymbol}`);
  }
  if (request.fileContainingExtension !== undefined) {
    const { containingType, extensionNumber } = request.fileContainingExtension;
    const file = index.extensions.get(containingType.replace(/^\./, ""))?.get(extensionNumber);
    return found(file, `extension not found: number ${extensionNumber} of ${containingType}`);
  }
  if (request.allExtensionNumbersOfType !== undefined) {
    const type = request.allExtensionNumbersOfType.replace(/^\./, "");
    if (!index.messages.has(type)) {
      return { ...response, errorResponse: { errorCode: status.NOT_FOUND, errorMessage: `message type not found: ${request.allExtensionNumbersOfType}` } };
    }
    const numbers = [...(index.extensions.get(type)?.keys() ?? [])].sort((a, b) => a - b);
    return { ...response, allExtensionNumbersResponse: { baseTypeName: type, extensionNumber: numbers } };
  }
  return {
    ...response,
    errorResponse: {
      errorCode: status.INVALID_ARGUMENT,
      errorMessage: "the request asks nothing: set one of list_services, file_by_filename, file_containing_symbol, file_containing_extension, all_extension_numbers_of_type",
    },
  };
}

/** The file first, then every file it imports, directly or not, each once. */
function withDependencies(index: ReflectionIndex, file: IndexedFile): Buffer[] {
  const order: IndexedFile[] = [file];
  const seen = new Set([file.name]);
  for (let i = 0; i < order.length; i++) {
    for (const name of order[i]!.dependencies) {
      const dependency = index.files.get(name);
      if (dependency && !seen.has(name)) {
        seen.add(name);
        order.push(dependency);
      }
    }
  }
  return order.map((f) => f.bytes);
}

/** The raw FileDescriptorProtos of a serialized FileDescriptorSet, in its order. */
function filesOfSet(set: Uint8Array): Uint8Array[] {
  const reader = new BinaryReader(set);
  const files: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === FILE_FIELD && wireType === WireType.LengthDelimited) files.push(reader.bytes());
    else reader.skip(wireType, field);
  }
  return files;
}
