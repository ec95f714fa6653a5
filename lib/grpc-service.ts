// gRPC services from the generated code's generic definitions (ts-proto `outputServices=
// generic-definitions`). The generated message modules then import no gRPC library, so a command
// that only needs the messages — the CLI's local check compares its results with the coordinator's
// own comparison — never loads grpc-js. Only what serves or calls a service imports this module.
import {
  makeGenericClientConstructor,
  type CallOptions,
  type Client,
  type ClientReadableStream,
  type ClientUnaryCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type Metadata,
  type ServiceDefinition,
  type ServiceError,
} from "@grpc/grpc-js";
import { encodeOnce, type Encoder } from "./encode-once.js";

/** What the generated code gives each message type that a method takes or returns. */
interface MessageCodec {
  encode(message: never): { finish(): Uint8Array };
  decode(input: Uint8Array): unknown;
}

interface GenericMethod {
  readonly name: string;
  readonly requestType: MessageCodec;
  readonly requestStream: boolean;
  readonly responseType: MessageCodec;
  readonly responseStream: boolean;
}

/** A service as ts-proto's generic definitions describe it. */
export interface GenericServiceDefinition {
  readonly name: string;
  readonly fullName: string;
  readonly methods: { readonly [key: string]: GenericMethod };
}

type RequestOf<M> = M extends { requestType: { decode(input: Uint8Array): infer T } } ? T : never;
type ResponseOf<M> = M extends { responseType: { decode(input: Uint8Array): infer T } } ? T : never;

type UnaryCallback<Res> = (error: ServiceError | null, response: Res) => void;

/** A client method as grpc-js makes it, typed from the definition. */
type ClientMethod<M> = M extends { requestStream: false; responseStream: true }
  ? {
      (request: RequestOf<M>, options?: Partial<CallOptions>): ClientReadableStream<ResponseOf<M>>;
      (request: RequestOf<M>, metadata?: Metadata, options?: Partial<CallOptions>): ClientReadableStream<ResponseOf<M>>;
    }
  : M extends { requestStream: false; responseStream: false }
    ? {
        (request: RequestOf<M>, callback: UnaryCallback<ResponseOf<M>>): ClientUnaryCall;
        (request: RequestOf<M>, metadata: Metadata, callback: UnaryCallback<ResponseOf<M>>): ClientUnaryCall;
        (request: RequestOf<M>, metadata: Metadata, options: Partial<CallOptions>, callback: UnaryCallback<ResponseOf<M>>): ClientUnaryCall;
      }
    : never;

/** The handlers a server gives for each method, typed from the definition. */
type ServerMethod<M> = M extends { requestStream: false; responseStream: true }
  ? handleServerStreamingCall<RequestOf<M>, ResponseOf<M>>
  : M extends { requestStream: false; responseStream: false }
    ? handleUnaryCall<RequestOf<M>, ResponseOf<M>>
    : never;

export type GrpcClient<D extends GenericServiceDefinition> = Client & { [K in keyof D["methods"]]: ClientMethod<D["methods"][K]> };
export type GrpcServerImplementation<D extends GenericServiceDefinition> = { [K in keyof D["methods"]]: ServerMethod<D["methods"][K]> };

export type GrpcClientConstructor<D extends GenericServiceDefinition> = new (
  ...args: ConstructorParameters<ReturnType<typeof makeGenericClientConstructor>>
) => GrpcClient<D>;

/** The grpc-js service definition of a generic one: paths, and protobuf (de)serialization. */
export function grpcServiceDefinition<D extends GenericServiceDefinition>(definition: D): ServiceDefinition<GrpcServerImplementation<D>> {
  const methods = Object.entries(definition.methods).map(([key, method]) => {
    // The definition ties each method to its own types; serialization only moves them through.
    const request = method.requestType as unknown as { encode(message: unknown): { finish(): Uint8Array }; decode(input: Uint8Array): unknown };
    const response = method.responseType as unknown as typeof request;
    return [
      key,
      {
        path: `/${definition.fullName}/${method.name}`,
        originalName: method.name,
        requestStream: method.requestStream,
        responseStream: method.responseStream,
        requestSerialize: (value: unknown) => Buffer.from(request.encode(value).finish()),
        requestDeserialize: (bytes: Buffer) => request.decode(bytes),
        // Kept with the message: the coordinator stores the report it answered with as these
        // bytes (lib/encode-once.ts). A response is built for its call and not changed after.
        responseSerialize: (value: unknown) => {
          const bytes = typeof value === "object" && value !== null ? encodeOnce(response as Encoder<object>, value) : response.encode(value as never).finish();
          return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        },
        responseDeserialize: (bytes: Buffer) => response.decode(bytes),
      },
    ] as const;
  });
  return Object.fromEntries(methods) as unknown as ServiceDefinition<GrpcServerImplementation<D>>;
}

/** A client class for a generic definition, as grpc-js's own generated clients are made. */
export function grpcClientConstructor<D extends GenericServiceDefinition>(definition: D): GrpcClientConstructor<D> {
  return makeGenericClientConstructor(grpcServiceDefinition(definition), definition.fullName) as unknown as GrpcClientConstructor<D>;
}
