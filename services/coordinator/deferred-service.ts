// The coordinator's services' handlers (the ProbeService's, the BatchService's) before the coordinator can take probes. The gRPC port is bound
// first, while the coordinator still waits for NATS: health answers NOT_SERVING (orchestrators,
// `npm run stack`), and every call gets UNAVAILABLE with the reason, instead of a refused
// connection or, worse, an answer from whatever else holds the port. Once the coordinator is
// composed, the handlers pass each call to the real service.
import type { sendUnaryData, ServerUnaryCall, ServerWritableStream, UntypedHandleCall, UntypedServiceImplementation } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { ProbeServiceDefinition } from "../../gen/smtpprobe/v1/probe_service.js";
import type { GenericServiceDefinition, GrpcServerImplementation } from "../../lib/grpc-service.js";
import { serviceError } from "./grpc-errors.js";

export interface DeferredService<D extends GenericServiceDefinition = typeof ProbeServiceDefinition> {
  /** What the gRPC server serves from the start. */
  service: UntypedServiceImplementation;
  /** From now on calls go to `service`. */
  serve(service: GrpcServerImplementation<D>): void;
}

/** `reason()`: why calls are refused meanwhile ("waiting for NATS at nats://..."). */
export function deferredProbeService(reason: () => string): DeferredService {
  return deferredService(ProbeServiceDefinition, reason);
}

/** Any service of the coordinator (the BatchService too), deferred the same way. */
export function deferredService<D extends GenericServiceDefinition>(definition: D, reason: () => string): DeferredService<D> {
  let target: UntypedServiceImplementation | undefined;
  const service: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition.methods)) {
    const refusal = () => serviceError(status.UNAVAILABLE, `the coordinator is starting: ${reason()}; try again shortly`);
    const handler = method.responseStream
      ? (call: ServerWritableStream<unknown, unknown>): void => {
          const real = target?.[name] as ((call: ServerWritableStream<unknown, unknown>) => void) | undefined;
          // A server stream ends with an error status through "error".
          if (real) real.call(target, call);
          else call.emit("error", refusal());
        }
      : (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => {
          const real = target?.[name] as ((call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void) | undefined;
          if (real) real.call(target, call, callback);
          else callback(refusal());
        };
    service[name] = handler as UntypedHandleCall;
  }
  return {
    service,
    serve(real) {
      target = real as unknown as UntypedServiceImplementation;
    },
  };
}
