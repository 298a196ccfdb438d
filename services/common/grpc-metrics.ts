/**
 * gRPC server and client metrics in the grpc-ecosystem naming (go-grpc-middleware's prometheus
 * provider), added once by an interceptor rather than by hand in each handler.
 */
import { InterceptingCall, Interceptor, ServerInterceptingCall, ServerInterceptor, status } from '@grpc/grpc-js';
import { Histogram, Registry } from 'prom-client';
import { BatchedCounter, type CounterChild } from './batched-counter';

type GrpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

interface MethodInfo {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
}

function methodLabels(method: MethodInfo): { grpc_type: GrpcType; grpc_service: string; grpc_method: string } {
  const [, service = 'unknown', name = 'unknown'] = method.path.split('/');
  const grpc_type: GrpcType = method.requestStream
    ? method.responseStream
      ? 'bidi_stream'
      : 'client_stream'
    : method.responseStream
      ? 'server_stream'
      : 'unary';
  return { grpc_type, grpc_service: service, grpc_method: name };
}

export function codeName(code: status | undefined): string {
  return status[code ?? status.UNKNOWN] ?? 'UNKNOWN';
}

/**
 * The grpc_code label value as the grpc-ecosystem middleware writes it (Go's codes.Code names:
 * "OK", "NotFound", "Canceled"), so dashboards and alerts written for it work unchanged here.
 */
const ECOSYSTEM_CODE_NAMES: Readonly<Record<number, string>> = {
  [status.OK]: 'OK',
  [status.CANCELLED]: 'Canceled',
  [status.UNKNOWN]: 'Unknown',
  [status.INVALID_ARGUMENT]: 'InvalidArgument',
  [status.DEADLINE_EXCEEDED]: 'DeadlineExceeded',
  [status.NOT_FOUND]: 'NotFound',
  [status.ALREADY_EXISTS]: 'AlreadyExists',
  [status.PERMISSION_DENIED]: 'PermissionDenied',
  [status.RESOURCE_EXHAUSTED]: 'ResourceExhausted',
  [status.FAILED_PRECONDITION]: 'FailedPrecondition',
  [status.ABORTED]: 'Aborted',
  [status.OUT_OF_RANGE]: 'OutOfRange',
  [status.UNIMPLEMENTED]: 'Unimplemented',
  [status.INTERNAL]: 'Internal',
  [status.UNAVAILABLE]: 'Unavailable',
  [status.DATA_LOSS]: 'DataLoss',
  [status.UNAUTHENTICATED]: 'Unauthenticated',
};

export function grpcCodeLabel(code: status | undefined): string {
  return ECOSYSTEM_CODE_NAMES[code ?? status.UNKNOWN] ?? 'Unknown';
}

/** Latency buckets in seconds: from 0.1 ms (a local Redis round trip) to 10 s (a deadline). */
const LATENCY_BUCKETS_S = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const BASE_LABELS = ['grpc_type', 'grpc_service', 'grpc_method'] as const;

/** The counters of one method on one side, resolved once: every call and message of it only adds. */
interface MethodCounters {
  readonly labels: ReturnType<typeof methodLabels>;
  readonly started: CounterChild;
  readonly inbound: CounterChild;
  readonly outbound: CounterChild;
  handled(code: status | undefined): CounterChild;
}

type Counters = ReturnType<typeof makeCounters>;
const made = new WeakMap<Registry, Partial<Record<'server' | 'client', Counters>>>();

/** One set per registry and side: a process may make many clients (and servers) on one registry. */
function counters(registry: Registry, side: 'server' | 'client'): Counters {
  let sides = made.get(registry);
  if (!sides) made.set(registry, (sides = {}));
  return (sides[side] ??= makeCounters(registry, side));
}

function makeCounters(registry: Registry, side: 'server' | 'client') {
  const started = new BatchedCounter({
    name: `grpc_${side}_started_total`,
    help: `RPCs started on the ${side}.`,
    labelNames: BASE_LABELS,
    registers: [registry],
  });
  const handled = new BatchedCounter({
    name: `grpc_${side}_handled_total`,
    help: `RPCs completed on the ${side}, by status code.`,
    labelNames: [...BASE_LABELS, 'grpc_code'],
    registers: [registry],
  });
  const inbound = new BatchedCounter({
    name: `grpc_${side}_msg_received_total`,
    help: `Messages received by the ${side} (requests on a server, responses on a client).`,
    labelNames: BASE_LABELS,
    registers: [registry],
  });
  const outbound = new BatchedCounter({
    name: `grpc_${side}_msg_sent_total`,
    help: `Messages sent by the ${side} (responses from a server, requests from a client).`,
    labelNames: BASE_LABELS,
    registers: [registry],
  });
  const byPath = new Map<string, MethodCounters>();
  return {
    seconds: new Histogram({
      name: side === 'server' ? 'grpc_server_handling_seconds' : 'grpc_client_handling_seconds',
      help: `Seconds from the start of an RPC to its status, on the ${side}.`,
      labelNames: BASE_LABELS,
      buckets: LATENCY_BUCKETS_S,
      registers: [registry],
    }),
    method(info: MethodInfo): MethodCounters {
      let m = byPath.get(info.path);
      if (!m) {
        const labels = methodLabels(info);
        const byCode = new Map<number, CounterChild>();
        m = {
          labels,
          started: started.child(labels),
          inbound: inbound.child(labels),
          outbound: outbound.child(labels),
          handled: (code) => {
            const known = code ?? status.UNKNOWN;
            let child = byCode.get(known);
            if (!child) byCode.set(known, (child = handled.child({ ...labels, grpc_code: grpcCodeLabel(known) })));
            return child;
          },
        };
        byPath.set(info.path, m);
      }
      return m;
    },
  };
}

export function grpcServerMetricsInterceptor(registry: Registry): ServerInterceptor {
  const m = counters(registry, 'server');
  return (descriptor, call) => {
    const method = m.method(descriptor);
    method.started.inc();
    const stopTimer = m.seconds.startTimer(method.labels);
    let finished = false;
    const finish = (code: status | undefined) => {
      if (finished) return;
      finished = true;
      stopTimer();
      method.handled(code).inc();
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message, nextMessage) => {
            method.inbound.inc();
            nextMessage(message);
          },
          onCancel: () => finish(status.CANCELLED),
        }),
      sendMessage: (message, next) => {
        method.outbound.inc();
        next(message);
      },
      sendStatus: (statusObject, next) => {
        finish(statusObject.code);
        next(statusObject);
      },
    });
  };
}

export function grpcClientMetricsInterceptor(registry: Registry): Interceptor {
  const m = counters(registry, 'client');
  return (options, nextCall) => {
    const method = m.method(options.method_definition);
    return new InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        method.started.inc();
        const stopTimer = m.seconds.startTimer(method.labels);
        next(metadata, {
          onReceiveMessage: (message, nextMessage) => {
            method.inbound.inc();
            nextMessage(message);
          },
          onReceiveStatus: (statusObject, nextStatus) => {
            stopTimer();
            method.handled(statusObject.code).inc();
            nextStatus(statusObject);
          },
        });
      },
      sendMessage: (message, next) => {
        method.outbound.inc();
        next(message);
      },
    });
  };
}
