/**
 * gRPC server plumbing shared by every role: metrics interceptor, message size bound, health
 * (grpc.health.v1), reflection, and a shutdown that drains before it forces.
 */
import {
  Server,
  ServerCredentials,
  ServiceDefinition,
  UntypedServiceImplementation,
  sendUnaryData,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, ServingStatus, protoPath as healthProtoPath } from 'grpc-health-check';
import { z } from 'zod';
import { fields } from './config';
import { InvalidArgumentError } from './errors';
import { errorToStatus } from './grpc-status';
import { grpcServerMetricsInterceptor } from './grpc-metrics';
import { COMMON_GRPC_OPTIONS } from './grpc-options';
import { MAX_GRPC_MESSAGE_BYTES } from './limits';
import { Logger } from './logging';
import { Registry } from './metrics';
import { protoFiles, protoRoot } from './proto-files';

/**
 * A client that vanishes without closing its connection (a crash of its machine, a cut link, a
 * frozen VM) sends no FIN, and a stream with nothing to send never finds out: a Watch would hold
 * one of its address's watcher slots until its lifetime ends (half an hour by default), a
 * Receive for good. So servers ping every connection and close those that do not answer.
 */
export const DEFAULT_KEEPALIVE_MS = 60_000;
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 20_000;

/** The keepalive settings every role's gRPC server takes. */
export const keepaliveFields = {
  keepaliveMs: fields
    .ms(1_000, 86_400_000)
    .default(DEFAULT_KEEPALIVE_MS)
    .describe(
      'how often the gRPC server pings each client connection, so it notices clients that vanished without closing',
    ),
  keepaliveTimeoutMs: fields
    .ms(100, 600_000)
    .default(DEFAULT_KEEPALIVE_TIMEOUT_MS)
    .describe(
      'how long such a ping may go unanswered before the server closes the connection and ends its streams (Watch, Receive)',
    ),
};

export type KeepaliveSettings = z.infer<z.ZodObject<typeof keepaliveFields>>;

export interface ServiceBinding {
  /** Full name, e.g. "grapevine.v1.DirectoryService"; health reports under it. */
  readonly name: string;
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
}

export interface GrpcServerOptions {
  readonly host: string;
  readonly port: number;
  readonly credentials: ServerCredentials;
  /**
   * A second, plaintext port that serves grpc.health.v1 only, with the same statuses: Kubernetes
   * gRPC probes cannot speak TLS. 0 or absent: none.
   */
  readonly healthPort?: number;
  readonly services: readonly ServiceBinding[];
  /** Absent: the defaults. */
  readonly keepalive?: KeepaliveSettings;
  readonly registry: Registry;
  readonly log: Logger;
}

export interface RunningGrpcServer {
  readonly port: number;
  /** The plaintext health port, when one was asked for. */
  readonly healthPort?: number;
  /** Sets the status of every service and of the server as a whole (service ""). */
  setServing(serving: boolean): void;
  /** Sets one service's status alone (a host that knows no peer is up but not serving its role). */
  setServiceServing(name: string, serving: boolean): void;
  /** Stops taking calls, waits up to graceMs for calls in flight, then cancels the rest. */
  shutdown(graceMs: number): Promise<void>;
}

export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const server = new Server({
    ...COMMON_GRPC_OPTIONS,
    interceptors: [grpcServerMetricsInterceptor(options.registry)],
    'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
    'grpc.max_send_message_length': 4 * MAX_GRPC_MESSAGE_BYTES,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.keepalive_time_ms': options.keepalive?.keepaliveMs ?? DEFAULT_KEEPALIVE_MS,
    'grpc.keepalive_timeout_ms': options.keepalive?.keepaliveTimeoutMs ?? DEFAULT_KEEPALIVE_TIMEOUT_MS,
  });
  for (const service of options.services) {
    server.addService(wrapCodecs(service.definition), service.implementation);
  }

  const names = ['', ...options.services.map((service) => service.name)];
  const health = new HealthImplementation(
    Object.fromEntries(names.map((name) => [name, 'NOT_SERVING' as ServingStatus])),
  );
  health.addToServer(server);
  // Reflection describes our services and the health service, so grpcurl can call both.
  reflectionService().addToServer(server);

  const bind = (target: Server, port: number, credentials: ServerCredentials) =>
    new Promise<number>((resolve, reject) =>
      target.bindAsync(`${formatHost(options.host)}:${port}`, credentials, (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
  const port = await bind(server, options.port, options.credentials);
  let healthServer: Server | undefined;
  let healthPort: number | undefined;
  if (options.healthPort) {
    healthServer = new Server(COMMON_GRPC_OPTIONS);
    health.addToServer(healthServer);
    try {
      healthPort = await bind(healthServer, options.healthPort, ServerCredentials.createInsecure());
    } catch (error) {
      server.forceShutdown();
      throw error;
    }
  }
  let serving: boolean | undefined;
  const setServing = (next: boolean) => {
    if (next === serving) return;
    serving = next;
    for (const name of names) health.setStatus(name, next ? 'SERVING' : 'NOT_SERVING');
  };
  setServing(true);

  return {
    port,
    healthPort,
    setServing,
    setServiceServing: (name, next) => health.setStatus(name, next ? 'SERVING' : 'NOT_SERVING'),
    shutdown: async (graceMs) => {
      setServing(false);
      healthServer?.forceShutdown();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          options.log.warn({ graceMs }, 'calls still in flight after the grace period; cancelling them');
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}

/**
 * grpc-js answers a request it cannot decode with INTERNAL, which tells the caller nothing. Mark
 * such a request instead, so the handler answers INVALID_ARGUMENT with the decoder's complaint.
 */
const MALFORMED = Symbol('malformed request');

interface MalformedRequest {
  readonly [MALFORMED]: string;
}

function wrapCodecs(definition: ServiceDefinition): ServiceDefinition {
  const wrapped: Record<string, ServiceDefinition[string]> = {};
  for (const [name, method] of Object.entries(definition)) {
    wrapped[name] = {
      ...method,
      // A handler may write bytes it encoded itself (a watch fan-out encodes once for all).
      responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : method.responseSerialize(value)),
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (error) {
          return { [MALFORMED]: (error as Error).message } satisfies MalformedRequest;
        }
      },
    };
  }
  return wrapped;
}

function rejectMalformed(request: unknown): void {
  if (typeof request === 'object' && request !== null && MALFORMED in request) {
    throw new InvalidArgumentError(
      `request bytes are not a valid message: ${(request as MalformedRequest)[MALFORMED]}`,
    );
  }
}

let reflection: ReflectionService | undefined;

/**
 * One reflection service for every server of the process: building it decodes every file
 * descriptor (milliseconds each time), and its handlers keep no state between calls.
 */
function reflectionService(): ReflectionService {
  reflection ??= new ReflectionService(loadSync([...protoFiles(), healthProtoPath], { includeDirs: [protoRoot()] }));
  return reflection;
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** A unary handler that replies exactly once, mapping any error through the one status map. */
export function unaryHandler<Req, Res>(
  log: Logger,
  method: string,
  handle: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    Promise.resolve()
      .then(() => rejectMalformed(call.request))
      .then(() => handle(call.request, call))
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(errorToStatus(error, log, method)),
      );
  };
}

/** A server-streaming handler; `handle` owns the stream and must end it. Errors become a status. */
export function streamHandler<Req, Res>(
  log: Logger,
  method: string,
  handle: (call: ServerWritableStream<Req, Res>) => Promise<void>,
) {
  return (call: ServerWritableStream<Req, Res>): void => {
    Promise.resolve()
      .then(() => rejectMalformed(call.request))
      .then(() => handle(call))
      .catch((error: unknown) => {
        if (!call.writableEnded && !call.destroyed) call.emit('error', errorToStatus(error, log, method));
      });
  };
}

/**
 * Runs `end` once the caller of a server stream has gone: cancelled, or the call failed. grpc-js
 * emits a cancel once; one that came before the handler listened (while it awaited something,
 * as a Watch from now waits for the store's revision) reached no listener. Such a call is ended
 * at once, or it would hold its place (a watcher slot, a subscription) long after its caller left.
 */
export function onCallGone(call: ServerWritableStream<unknown, unknown>, end: () => void): void {
  call.on('cancelled', end);
  call.on('error', end);
  if (call.cancelled) end();
}

/**
 * The client-streaming calls a server has open. A peer's one-way stream stays open as long as the
 * peer likes, so a stopping server answers them itself (endAll) instead of waiting out its grace
 * period for peers that may never close them.
 */
export class OpenClientStreams {
  private readonly ends = new Set<() => void>();

  add(end: () => void): void {
    this.ends.add(end);
  }

  delete(end: () => void): void {
    this.ends.delete(end);
  }

  get size(): number {
    return this.ends.size;
  }

  /** Answers every open call once the messages it has sent so far have been handled. */
  endAll(): void {
    for (const end of [...this.ends]) end();
  }
}

/**
 * A client-streaming handler: `onMessage` runs for each request, in order. The first error ends
 * the call with its status (later messages are ignored); the end of the stream answers `done()`.
 * With `open`, the call is listed there while it runs, and `open.endAll()` answers it `done()`
 * early, after the messages already received.
 */
export function clientStreamHandler<Req, Res>(
  log: Logger,
  method: string,
  onMessage: (request: Req) => Promise<unknown>,
  done: () => Res,
  open?: OpenClientStreams,
) {
  return (call: ServerReadableStream<Req, Res>, callback: sendUnaryData<Res>): void => {
    let settled = false;
    let chain: Promise<void> = Promise.resolve();
    const settle = (error: Parameters<sendUnaryData<Res>>[0], value?: Res) => {
      if (settled) return;
      settled = true;
      open?.delete(endEarly);
      callback(error, value);
    };
    const fail = (error: unknown) => settle(errorToStatus(error, log, method));
    const finish = () => void chain.then(() => settle(null, done()));
    const endEarly = () => finish();
    open?.add(endEarly);
    call.on('data', (request: Req) => {
      chain = chain
        .then(async () => {
          if (settled) return;
          rejectMalformed(request);
          await onMessage(request);
        })
        .catch(fail);
    });
    call.on('end', finish);
    call.on('error', () => {
      settled = true;
      open?.delete(endEarly);
    });
  };
}
