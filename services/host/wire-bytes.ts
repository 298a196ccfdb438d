/**
 * Bytes on the wire, counted where they are made: the Host service definition with its request
 * codec wrapped, for the client (bytes sent) and for the server (bytes received).
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { BatchedCounter } from '../common/batched-counter';
import { HostServiceService } from '../gen/grapevine/v1/host';

/** Snake-case type labels, as an operator reads them in Prometheus. */
const TYPE_LABEL: Record<string, string> = {
  handshake: 'handshake',
  ping: 'ping',
  indirectPing: 'indirect_ping',
  exchangePeers: 'exchange_peers',
  gossip: 'gossip',
  send: 'send',
  flood: 'flood',
  push: 'push',
  receive: 'receive',
  peers: 'peers',
};

export function typeLabel(method: string): string {
  return TYPE_LABEL[method] ?? method;
}

type Method = ServiceDefinition[string];

/** The type label of a request: a Push stream message is counted as the message it carries. */
function requestType(method: string, value: unknown): string {
  if (method !== 'push') return typeLabel(method);
  return typeLabel((value as { message?: { $case: string } }).message?.$case ?? 'push');
}

/** Counts each encoded request the client sends. */
export function countingSentBytes(bytes: BatchedCounter<'type'>): ServiceDefinition {
  return mapMethods((name, method) => {
    const serialize = method.requestSerialize as (value: unknown) => Buffer;
    return {
      ...method,
      requestSerialize: (value: unknown) => {
        const buffer = serialize(value);
        bytes.child({ type: requestType(name, value) }).inc(buffer.length);
        return buffer;
      },
    };
  });
}

/** Counts each encoded request the server receives, before it is decoded. */
export function countingReceivedBytes(bytes: BatchedCounter<'type'>): ServiceDefinition {
  return mapMethods((name, method) => {
    const deserialize = method.requestDeserialize as (buffer: Buffer) => unknown;
    return {
      ...method,
      requestDeserialize: (buffer: Buffer) => {
        const value = deserialize(buffer);
        bytes.child({ type: requestType(name, value) }).inc(buffer.length);
        return value;
      },
    };
  });
}

function mapMethods(f: (name: string, method: Method) => Method): ServiceDefinition {
  const mapped: Record<string, Method> = {};
  for (const [name, method] of Object.entries(HostServiceService)) mapped[name] = f(name, method as Method);
  return mapped;
}
