/**
 * What the fuzz suites share: the seed and case count, a gRPC client that sends bytes as they are
 * (so a request can be anything, not just what an encoder would make), a health check, byte
 * mutations, and the check every case ends with: the call ended with a code its RPC may answer.
 *
 *   FUZZ_SEED=<n>   replays a run (the seed is printed at the start of every suite)
 *   FUZZ_RUNS=<n>   cases per suite; `npm run test:fuzz` sets 10,000, `make test` uses the default
 */
import { ChannelCredentials, Client, Metadata, ServiceError, status } from '@grpc/grpc-js';
import fc from 'fast-check';
import { MAX_GRPC_MESSAGE_BYTES } from '../../services/common/limits';

/** Fixed, so `make test` runs the same cases every time; FUZZ_SEED picks others. */
export const DEFAULT_FUZZ_SEED = 20_261_209;
/** Cases per suite in `make test`: the three suites together stay well under a minute. */
export const DEFAULT_FUZZ_RUNS = 150;
/** Deadline of one fuzz call: an answer later than this is a hang. */
export const CALL_DEADLINE_MS = 5_000;

export interface FuzzSettings {
  readonly seed: number;
  readonly runs: number;
  /** A jest timeout that fits the run: generous per case, so a slow machine does not fail it. */
  readonly timeoutMs: number;
}

export function fuzzSettings(suite: string, perCaseMs = 60): FuzzSettings {
  const seed = envInteger('FUZZ_SEED', DEFAULT_FUZZ_SEED);
  const runs = envInteger('FUZZ_RUNS', DEFAULT_FUZZ_RUNS);
  console.info('fuzz seed', seed);
  console.info(`fuzz ${suite}: ${runs} cases (FUZZ_SEED=${seed} FUZZ_RUNS=${runs} replays them)`);
  return { seed, runs, timeoutMs: 60_000 + runs * perCaseMs };
}

function envInteger(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a whole number, got ${text}`);
  return value;
}

/** How a call ended: the gRPC code (OK included) and the server's message. */
export interface Outcome {
  readonly code: status;
  readonly details: string;
  readonly response?: Buffer;
}

const identity = (bytes: Buffer): Buffer => bytes;

/**
 * A client of any service that sends request bytes untouched and hands back response bytes,
 * like makeGenericClientConstructor with identity serializers, on one kept channel.
 */
export class RawClient {
  private readonly client: Client;

  constructor(readonly address: string) {
    this.client = new Client(address, ChannelCredentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 * MAX_GRPC_MESSAGE_BYTES,
    });
  }

  close(): void {
    this.client.close();
  }

  unary(path: string, request: Buffer, metadata = new Metadata()): Promise<Outcome> {
    return new Promise((resolve) =>
      this.client.makeUnaryRequest(
        path,
        identity,
        identity,
        request,
        metadata,
        { deadline: Date.now() + CALL_DEADLINE_MS },
        (error: ServiceError | null, response?: Buffer) =>
          resolve(error ? { code: error.code, details: error.details } : { code: status.OK, details: '', response }),
      ),
    );
  }

  /**
   * Opens a server stream and waits for its status, or for its first message and then `graceMs`
   * more (a stream may greet first and refuse after). A stream still open then is cancelled by
   * the client and counts as OK.
   */
  serverStream(path: string, request: Buffer, graceMs = 0, metadata = new Metadata()): Promise<Outcome> {
    return new Promise((resolve) => {
      const call = this.client.makeServerStreamRequest(path, identity, identity, request, metadata, {
        deadline: Date.now() + CALL_DEADLINE_MS,
      });
      let settled = false;
      const settle = (outcome: Outcome) => {
        if (settled) return;
        settled = true;
        resolve(outcome);
      };
      let first: Buffer | undefined;
      call.on('data', (message: Buffer) => {
        if (first) return;
        first = message;
        setTimeout(() => {
          settle({ code: status.OK, details: '', response: first });
          call.cancel();
        }, graceMs);
      });
      call.on('error', (error: ServiceError) => settle({ code: error.code, details: error.details }));
      call.on('status', (s: { code: status; details: string }) => settle({ code: s.code, details: s.details }));
    });
  }

  /**
   * Opens a server stream that may stay silent (Receive): OK once the server has sent its headers
   * (the stream is then cancelled), else the status it ended with.
   */
  openStream(path: string, request: Buffer): Promise<Outcome> {
    return new Promise((resolve) => {
      const call = this.client.makeServerStreamRequest(path, identity, identity, request, new Metadata(), {
        deadline: Date.now() + CALL_DEADLINE_MS,
      });
      let settled = false;
      const settle = (outcome: Outcome) => {
        if (settled) return;
        settled = true;
        resolve(outcome);
      };
      call.on('metadata', () => {
        // A status may follow the headers at once (a refused request): give it a turn to arrive.
        setImmediate(() => {
          settle({ code: status.OK, details: '' });
          call.cancel();
        });
      });
      call.on('data', () => {});
      call.on('error', (error: ServiceError) => settle({ code: error.code, details: error.details }));
      call.on('status', (s: { code: status; details: string }) => settle({ code: s.code, details: s.details }));
    });
  }

  /** Sends every message of a client stream, ends it, and waits for the answer. */
  clientStream(path: string, messages: readonly Buffer[], metadata = new Metadata()): Promise<Outcome> {
    return new Promise((resolve) => {
      const call = this.client.makeClientStreamRequest(
        path,
        identity,
        identity,
        metadata,
        { deadline: Date.now() + CALL_DEADLINE_MS },
        (error: ServiceError | null, response?: Buffer) =>
          resolve(error ? { code: error.code, details: error.details } : { code: status.OK, details: '', response }),
      );
      // A server that refused a message may close the stream before the rest is written.
      call.on('error', () => {});
      for (const message of messages) call.write(message);
      call.end();
    });
  }

  /** grpc.health.v1 Check of the whole server: "SERVING", "NOT_SERVING", or the failed call's code. */
  async health(): Promise<string> {
    const outcome = await this.unary('/grpc.health.v1.Health/Check', Buffer.alloc(0));
    if (outcome.code !== status.OK) return status[outcome.code];
    // HealthCheckResponse { ServingStatus status = 1; }: absent means UNKNOWN (0).
    const bytes = outcome.response ?? Buffer.alloc(0);
    const value = bytes.length >= 2 && bytes[0] === 0x08 ? bytes[1] : 0;
    return ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'][value] ?? `status ${value}`;
  }
}

/** Codes no request may ever end with: a crash in a handler, a lost reply, a hang. */
export const NEVER = new Set<status>([status.UNKNOWN, status.INTERNAL, status.DEADLINE_EXCEEDED, status.CANCELLED]);

/**
 * The case's check: the code is one its RPC may answer, and never UNKNOWN, INTERNAL or a deadline.
 * A request over the gRPC message bound must answer RESOURCE_EXHAUSTED whatever its RPC.
 */
export function expectAllowed(
  what: string,
  outcome: Outcome,
  allowed: ReadonlySet<status>,
  requestBytes?: number,
): void {
  const oversize = requestBytes !== undefined && requestBytes > MAX_GRPC_MESSAGE_BYTES;
  const ok = oversize
    ? outcome.code === status.RESOURCE_EXHAUSTED
    : allowed.has(outcome.code) && !NEVER.has(outcome.code);
  if (!ok) {
    const expected = oversize
      ? 'RESOURCE_EXHAUSTED (over the message bound)'
      : [...allowed].map((c) => status[c]).join(', ');
    throw new Error(`${what} ended ${status[outcome.code]} (${outcome.details}); expected one of ${expected}`);
  }
}

export function codes(...list: (keyof typeof status)[]): ReadonlySet<status> {
  return new Set(list.map((name) => status[name] as unknown as status));
}

/** Counts of codes per RPC over a run, printed at the end of a suite. */
export class OutcomeTally {
  private readonly counts = new Map<string, Map<string, number>>();

  private readonly reasons = new Map<string, Map<string, number>>();

  add(rpc: string, code: status, details = ''): void {
    let byCode = this.counts.get(rpc);
    if (!byCode) this.counts.set(rpc, (byCode = new Map()));
    const name = status[code];
    byCode.set(name, (byCode.get(name) ?? 0) + 1);
    // Messages without their variable parts (ids, numbers, quoted values), for FUZZ_VERBOSE.
    const key = `${rpc} ${name}: ${details.replace(/"[^"]*"|b[a-z2-7]{52}|\d+/g, '…').slice(0, 120)}`;
    let reasons = this.reasons.get(rpc);
    if (!reasons) this.reasons.set(rpc, (reasons = new Map()));
    reasons.set(key, (reasons.get(key) ?? 0) + 1);
  }

  /** The messages behind the counts, most frequent first. */
  details(): string {
    return [...this.reasons.values()]
      .flatMap((reasons) => [...reasons].sort(([, a], [, b]) => b - a))
      .map(([key, n]) => `${n} × ${key}`)
      .join('\n');
  }

  count(rpc: string, code: keyof typeof status): number {
    return this.counts.get(rpc)?.get(code) ?? 0;
  }

  toString(): string {
    const verbose = process.env.FUZZ_VERBOSE ? `\n${this.details()}` : '';
    return [...this.counts]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([rpc, byCode]) => `${rpc}: ${[...byCode].map(([code, n]) => `${code} ${n}`).join(', ')}`)
      .join('\n')
      .concat(verbose);
  }
}

// ---- bytes --------------------------------------------------------------------------------------

/** A varint, as protobuf writes it. */
function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** A length-delimited field `field` holding `payload`: how unknown or repeated fields are padded in. */
export function lengthDelimited(field: number, payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([...varint((field << 3) | 2), ...varint(payload.length)]), payload]);
}

/** Marks bytes so a failing case prints their size and first bytes, not all of them. */
export function compact(bytes: Buffer): Buffer {
  const head = bytes.subarray(0, 16).toString('hex');
  return Object.assign(bytes, {
    [fc.toStringMethod]: () => `<${bytes.length} bytes: ${head}${bytes.length > 16 ? '…' : ''}>`,
  });
}

/** Bytes that are not what the RPC expects: random, protobuf-looking garbage, or over the bound. */
export const hostileBytes: fc.Arbitrary<Buffer> = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)), weight: 4 },
  { arbitrary: fc.uint8Array({ minLength: 65, maxLength: 4_096 }).map((a) => Buffer.from(a)), weight: 2 },
  {
    // A field header that promises more bytes than follow, or a varint that never ends.
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 5 }), fc.uint8Array({ maxLength: 16 }))
      .map(([field, wire, tail]) => Buffer.concat([Buffer.from([(field << 3) | wire, 0xff, 0xff, 0xff, 0xff]), tail])),
    weight: 2,
  },
  {
    arbitrary: fc
      .integer({ min: MAX_GRPC_MESSAGE_BYTES + 1, max: MAX_GRPC_MESSAGE_BYTES + 8_192 })
      .map((n) => Buffer.alloc(n, 0x0a)),
    weight: 1,
  },
);

export interface Mutation {
  readonly how: 'flip' | 'truncate' | 'insert' | 'duplicate' | 'unknown-field' | 'huge-unknown-field';
  readonly at: number;
  readonly flip: number;
  readonly extra: Uint8Array;
}

/** One change to a valid encoding: a flipped byte, a cut, an insertion, a repeat, or padding. */
export const mutation: fc.Arbitrary<Mutation> = fc.record({
  how: fc.constantFrom('flip', 'truncate', 'insert', 'duplicate', 'unknown-field', 'huge-unknown-field'),
  at: fc.nat(),
  flip: fc.integer({ min: 1, max: 255 }),
  extra: fc.uint8Array({ minLength: 1, maxLength: 32 }),
});

export function mutate(original: Uint8Array, { how, at, flip, extra }: Mutation): Buffer {
  const b = Buffer.from(original);
  const i = b.length === 0 ? 0 : at % b.length;
  switch (how) {
    case 'flip':
      if (b.length > 0) b[i] ^= flip;
      return b;
    case 'truncate':
      return b.subarray(0, i);
    case 'insert':
      return Buffer.concat([b.subarray(0, i), extra, b.subarray(i)]);
    case 'duplicate':
      return Buffer.concat([b, b]);
    case 'unknown-field':
      return Buffer.concat([b, lengthDelimited(1_000 + (at % 1_000), extra)]);
    case 'huge-unknown-field':
      return Buffer.concat([b, lengthDelimited(99, Buffer.alloc(MAX_GRPC_MESSAGE_BYTES + (at % 1_024), 0x41))]);
  }
}
