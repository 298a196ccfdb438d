/**
 * The Host gRPC handlers, on two listeners. The peer port takes the peers' calls, checked
 * (sender, rate, records) before the core sees them, so a bad call gets a status that names the
 * problem and never reaches the protocol. The application port takes the local application's
 * (Send and Flood without a sender, Receive, Peers). Each refuses the other's calls, so a peer
 * can neither read the host's messages nor send in its name.
 */
import { randomUUID } from 'node:crypto';
import { Metadata, ServiceError, ServerWritableStream, status } from '@grpc/grpc-js';
import { bearerTokenCheck } from '../common/bearer-token';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  UnauthenticatedError,
  UnavailableError,
} from '../common/errors';
import {
  clientStreamHandler,
  onCallGone,
  OpenClientStreams,
  ServiceBinding,
  streamHandler,
  unaryHandler,
} from '../common/grpc-server';
import { errorToStatus } from '../common/grpc-status';
import { isPeerId } from '../common/identity';
import type { Logger } from '../common/logging';
import {
  ExchangeKind,
  ExchangePeersRequest,
  ExchangePeersResponse,
  FloodRequest,
  FloodResponse,
  GossipRequest,
  HandshakeIntent,
  HandshakeRequest,
  HandshakeResponse,
  IndirectPingRequest,
  IndirectPingResponse,
  MessageKind,
  MembershipUpdate,
  PeerView,
  PeersResponse,
  PingRequest,
  PingResponse,
  PushRequest,
  ReceiveRequest,
  ReceiveResponse,
  SendRequest,
  SendResponse,
  Sender,
} from '../gen/grapevine/v1/host';
import { MAX_ANNOUNCED_IDS, type Ack, type Message, type MembershipConfig, type Update } from '../membership';
import type { HostConfig } from './config';
import type { MembershipDriver } from './driver';
import type { Inbox } from './inbox';
import type { HostMetrics } from './metrics';
import type { PeerTransport } from './peer-transport';
import type { RateLimiter } from '../common/rate-limiter';
import type { RecordChecker } from './record-checks';
import { countingReceivedBytes } from './wire-bytes';
import {
  fromWireUpdates,
  indirectPingResponseOf,
  pingResponseOf,
  requireSender,
  toWireRecord,
  toWireRecords,
} from './wire';

export const HOST_SERVICE_NAME = 'grapevine.v1.HostService';

/** Records one exchange may carry: a shuffle or a push-pull is a handful of views' worth. */
export const MAX_RECORDS_PER_CALL = 64;
/** Updates one call may piggyback. */
export const MAX_UPDATES_PER_CALL = 64;
/** Hops a shuffle or join walk may still travel. */
export const MAX_WALK_TTL = 16;
/** Longest message id a caller may choose. */
export const MAX_MESSAGE_ID_LENGTH = 128;
/** Buffered bytes past which a Receive stream is considered stalled and loses messages. */
const RECEIVE_BUFFER_BYTES = 4 * 1_024 * 1_024;

export interface HostContext {
  readonly config: HostConfig;
  readonly membership: MembershipConfig;
  readonly log: Logger;
  readonly metrics: HostMetrics;
  readonly checker: RecordChecker;
  readonly driver: MembershipDriver;
  readonly transport: PeerTransport;
  readonly inbox: Inbox;
  /** Per-peer budgets: membership calls, and application messages (Send, Flood relays). */
  readonly limiters: { readonly membership: RateLimiter; readonly application: RateLimiter };
  /** This host as peers name it. */
  readonly self: Sender;
  /** Milliseconds since the epoch, for timestamps users read. */
  readonly wallClock: () => number;
  /** Finds a peer's address outside the views (the directory), when one is configured. */
  readonly lookup?: (peerId: string) => Promise<string | undefined>;
}

/**
 * The peer port's binding. It is made before the server binds and the context once it has (the
 * host's record needs the bound port); calls before that answer UNAVAILABLE. Peers' Push streams
 * are listed in `pushStreams`, so a stopping host can end them rather than wait for the peers to.
 */
export function hostService(
  log: Logger,
  metrics: HostMetrics,
  context: () => HostContext | undefined,
  pushStreams?: OpenClientStreams,
): ServiceBinding {
  const h = new HostHandlers(context);
  return {
    name: HOST_SERVICE_NAME,
    definition: countingReceivedBytes(metrics.bytesReceived),
    implementation: {
      handshake: unaryHandler(log, 'Handshake', (request: HandshakeRequest) => h.handshake(request)),
      ping: unaryHandler(log, 'Ping', (request: PingRequest) => h.ping(request)),
      indirectPing: unaryHandler(log, 'IndirectPing', (request: IndirectPingRequest) => h.indirectPing(request)),
      exchangePeers: unaryHandler(log, 'ExchangePeers', (request: ExchangePeersRequest) => h.exchangePeers(request)),
      gossip: unaryHandler(log, 'Gossip', (request: GossipRequest) => h.gossip(request)),
      push: clientStreamHandler(
        log,
        'Push',
        (request: PushRequest) => h.push(request),
        () => ({}),
        pushStreams,
      ),
      send: unaryHandler(log, 'Send', (request: SendRequest) =>
        request.sender ? h.relayedSend(request) : applicationCall('Send without a sender'),
      ),
      flood: unaryHandler(log, 'Flood', (request: FloodRequest) =>
        request.sender ? h.relayedFlood(request) : applicationCall('Flood without a sender'),
      ),
      receive: streamHandler(log, 'Receive', () => applicationCall('Receive')),
      peers: unaryHandler(log, 'Peers', () => applicationCall('Peers')),
    },
  };
}

/** How the application listener words a call without its appToken. */
const APP_TOKEN_REFUSALS = {
  missing: () =>
    new UnauthenticatedError(
      'this host\'s application listener needs its appToken: send metadata "authorization: Bearer <token>" (grapevine host --app-token, or GRAPEVINE_APP_TOKEN)',
    ),
  malformed: () =>
    new UnauthenticatedError(
      'the authorization metadata must be one "Bearer <token>" value carrying the host\'s appToken',
    ),
  mismatch: () => new PermissionDeniedError("the token does not match this host's appToken"),
};

/**
 * The application port's binding: the application's own calls; the peers' are refused. With an
 * appToken ('' for none) every call must carry it before its handler acts on it (a malformed
 * request is still INVALID_ARGUMENT first, as everywhere).
 */
export function hostApplicationService(
  log: Logger,
  metrics: HostMetrics,
  context: () => HostContext | undefined,
  appToken = '',
): ServiceBinding {
  const h = new HostHandlers(context);
  const refusal = bearerTokenCheck(appToken, APP_TOKEN_REFUSALS);
  const authorize = (call: { metadata: Metadata }) => {
    const refused = refusal(call.metadata);
    if (refused) throw refused;
  };
  const refusePeerCall =
    (what: string) =>
    async (_request: unknown, call: { metadata: Metadata }): Promise<never> => {
      authorize(call);
      return peerCall(what);
    };
  const ownMessage = <T extends { sender?: Sender }>(request: T, call: { metadata: Metadata }): T => {
    authorize(call);
    if (request.sender) {
      throw new InvalidArgumentError(
        "sender is set, but the application port takes the application's own messages only: leave sender empty (peers relay on the peer port)",
      );
    }
    return request;
  };
  return {
    name: HOST_SERVICE_NAME,
    definition: countingReceivedBytes(metrics.bytesReceived),
    implementation: {
      handshake: unaryHandler(log, 'Handshake', refusePeerCall('Handshake')),
      ping: unaryHandler(log, 'Ping', refusePeerCall('Ping')),
      indirectPing: unaryHandler(log, 'IndirectPing', refusePeerCall('IndirectPing')),
      exchangePeers: unaryHandler(log, 'ExchangePeers', refusePeerCall('ExchangePeers')),
      gossip: unaryHandler(log, 'Gossip', refusePeerCall('Gossip')),
      // Answered at once: no message of the stream is read.
      push: (call: { metadata: Metadata }, callback: (error: Partial<ServiceError>) => void) =>
        void refusePeerCall('Push')(undefined, call).catch((error: unknown) =>
          callback(errorToStatus(error, log, 'Push')),
        ),
      send: unaryHandler(log, 'Send', (request: SendRequest, call) => h.applicationSend(ownMessage(request, call))),
      flood: unaryHandler(log, 'Flood', (request: FloodRequest, call) => h.applicationFlood(ownMessage(request, call))),
      receive: streamHandler(log, 'Receive', (call: ServerWritableStream<ReceiveRequest, ReceiveResponse>) => {
        authorize(call);
        return h.receive(call);
      }),
      peers: unaryHandler(log, 'Peers', async (_request: unknown, call) => {
        authorize(call);
        return h.peers();
      }),
    },
  };
}

class HostHandlers {
  constructor(private readonly context: () => HostContext | undefined) {}

  private get c(): HostContext {
    const context = this.context();
    if (!context) throw new UnavailableError('the host is starting; retry in a moment');
    return context;
  }

  async handshake(request: HandshakeRequest): Promise<HandshakeResponse> {
    const sender = this.admit(request.sender, 'handshake');
    const record = this.c.checker.openOwn(request.record, sender.peerId, this.knownSeq(sender.peerId), 'record');
    const blob = request.record!;
    const own = toWireRecord(this.c.driver.node.record);
    const from = sender.peerId;
    const fromAddress = sender.address;
    switch (request.intent) {
      case HandshakeIntent.HANDSHAKE_INTENT_UNSPECIFIED:
        return { record: own, accepted: false };
      case HandshakeIntent.HANDSHAKE_INTENT_ACCEPT:
        this.c.driver.deliver({ type: 'neighbor-reply', from, fromAddress, record: blob, accepted: true });
        return { record: own, accepted: true };
      case HandshakeIntent.HANDSHAKE_INTENT_JOIN:
      case HandshakeIntent.HANDSHAKE_INTENT_NEIGHBOR:
      case HandshakeIntent.HANDSHAKE_INTENT_NEIGHBOR_URGENT: {
        if (record.withdrawn) throw new FailedPreconditionError(`record of ${from} is withdrawn: it cannot join`);
        const message: Message =
          request.intent === HandshakeIntent.HANDSHAKE_INTENT_JOIN
            ? { type: 'join', from, fromAddress, record: blob }
            : {
                type: 'neighbor',
                from,
                fromAddress,
                record: blob,
                highPriority: request.intent === HandshakeIntent.HANDSHAKE_INTENT_NEIGHBOR_URGENT,
              };
        const answer = await this.c.driver.ask(message, `neighbor|${from}`, 0);
        const reply = answer?.type === 'neighbor-reply' ? answer : undefined;
        return {
          record: own,
          accepted: reply?.accepted ?? false,
          referral: reply?.referral ? toWireRecord(reply.referral) : undefined,
        };
      }
      default:
        throw new InvalidArgumentError(`intent ${request.intent} is not one of the HandshakeIntent values`);
    }
  }

  async ping(request: PingRequest): Promise<PingResponse> {
    const sender = this.admit(request.sender, 'ping');
    const updates = this.updates(request.updates);
    const answer = await this.c.driver.ask(
      {
        type: 'ping',
        from: sender.peerId,
        fromAddress: sender.address,
        seq: request.seq,
        neighbor: request.neighbor,
        updates,
      },
      `probe|${sender.peerId}|${request.seq}`,
      0,
    );
    return pingResponseOf(answer as Ack | undefined, this.c.self, request.seq);
  }

  async indirectPing(request: IndirectPingRequest): Promise<IndirectPingResponse> {
    const sender = this.admit(request.sender, 'indirect_ping');
    const target = requireSender(request.target, 'target');
    const updates = this.updates(request.updates);
    const answer = await this.c.driver.ask(
      {
        type: 'ping-req',
        from: sender.peerId,
        fromAddress: sender.address,
        seq: request.seq,
        target: target.peerId,
        targetAddress: target.address,
        updates,
      },
      `probe|${sender.peerId}|${request.seq}`,
      this.c.membership.probeTimeoutMs,
    );
    return indirectPingResponseOf(answer, this.c.self, request.seq);
  }

  async exchangePeers(request: ExchangePeersRequest): Promise<ExchangePeersResponse> {
    const sender = this.admit(request.sender, 'exchange_peers');
    if (request.records.length > MAX_RECORDS_PER_CALL) {
      throw new ResourceExhaustedError(
        `${request.records.length} records in one exchange; at most ${MAX_RECORDS_PER_CALL} are allowed`,
      );
    }
    const { records, incarnations } = request;
    if (incarnations.length > 0 && incarnations.length !== records.length) {
      throw new InvalidArgumentError(
        `incarnations must be empty or one per record: ${records.length} records, ${incarnations.length} incarnations`,
      );
    }
    this.c.checker.openAll(records, 'records');
    const from = sender.peerId;
    const fromAddress = sender.address;
    switch (request.kind) {
      case ExchangeKind.EXCHANGE_KIND_SHUFFLE: {
        const origin = requireSender(request.origin, 'origin');
        this.walkTtl(request.ttl);
        this.c.driver.deliver({
          type: 'shuffle',
          from,
          fromAddress,
          origin: origin.peerId,
          originAddress: origin.address,
          records,
          incarnations,
          ttl: request.ttl,
        });
        return NO_EXCHANGE_ANSWER;
      }
      case ExchangeKind.EXCHANGE_KIND_SHUFFLE_REPLY:
        this.c.driver.deliver({ type: 'shuffle-reply', from, fromAddress, records, incarnations });
        return NO_EXCHANGE_ANSWER;
      case ExchangeKind.EXCHANGE_KIND_PUSH_PULL:
      case ExchangeKind.EXCHANGE_KIND_PUSH_PULL_NOTICE: {
        this.c.checker.openOwn(records[0], from, this.knownSeq(from), 'records[0]');
        const reply = request.kind === ExchangeKind.EXCHANGE_KIND_PUSH_PULL_NOTICE;
        const message: Message = {
          type: 'push-pull',
          from,
          fromAddress,
          records,
          incarnations,
          reply,
          neighbor: request.neighbor,
        };
        if (reply) {
          this.c.driver.deliver(message);
          return NO_EXCHANGE_ANSWER;
        }
        const answer = await this.c.driver.ask(message, `push-pull|${from}`, 0);
        if (answer?.type !== 'push-pull') return NO_EXCHANGE_ANSWER;
        return { ...toWireRecords(answer), neighbor: answer.neighbor ?? false };
      }
      default:
        throw new InvalidArgumentError(
          `kind ${request.kind} is not SHUFFLE, SHUFFLE_REPLY, PUSH_PULL or PUSH_PULL_NOTICE`,
        );
    }
  }

  async gossip(request: GossipRequest): Promise<Record<string, never>> {
    const sender = this.admit(request.sender, 'gossip');
    const from = sender.peerId;
    const fromAddress = sender.address;
    const body = request.body;
    switch (body?.$case) {
      case 'updates':
        this.c.driver.deliver({ type: 'gossip', from, fromAddress, updates: this.updates(body.value.updates) });
        break;
      case 'forwardJoin':
        this.c.checker.open(body.value.record, 'forward_join.record');
        this.walkTtl(body.value.ttl);
        this.c.driver.deliver({
          type: 'forward-join',
          from,
          fromAddress,
          record: body.value.record!,
          ttl: body.value.ttl,
        });
        break;
      case 'disconnect':
        this.c.driver.deliver({ type: 'disconnect', from, fromAddress });
        break;
      case 'introduction':
        this.c.checker.open(body.value.record, 'introduction.record');
        this.c.driver.deliver({ type: 'introduce', from, fromAddress, record: body.value.record! });
        break;
      case 'floodPrune':
        this.c.driver.deliver({ type: 'flood-prune', from, fromAddress });
        break;
      case 'floodAnnounce': {
        const ids = body.value.messageIds;
        if (ids.length > MAX_ANNOUNCED_IDS) {
          throw new ResourceExhaustedError(
            `${ids.length} message ids in one announcement; at most ${MAX_ANNOUNCED_IDS} are allowed`,
          );
        }
        ids.forEach((id, i) => floodId(id, `flood_announce.message_ids[${i}]`));
        this.c.driver.deliver({ type: 'flood-announce', from, fromAddress, ids });
        break;
      }
      case 'floodGraft':
        this.c.driver.deliver({
          type: 'flood-graft',
          from,
          fromAddress,
          id: floodId(body.value.messageId, 'flood_graft.message_id'),
        });
        break;
      default:
        throw new InvalidArgumentError(
          'gossip body is missing: set updates, forward_join, disconnect, introduction, flood_prune, flood_announce or flood_graft',
        );
    }
    return {};
  }

  /** One message of a Push stream: the same checks as its unary twin. */
  push(request: PushRequest): Promise<unknown> {
    const message = request.message;
    switch (message?.$case) {
      case 'gossip':
        return this.gossip(message.value);
      case 'flood':
        if (!message.value.sender) throw new InvalidArgumentError('a pushed flood must name its sender');
        return this.relayedFlood(message.value);
      case 'exchangePeers':
        if (message.value.kind === ExchangeKind.EXCHANGE_KIND_PUSH_PULL) {
          throw new InvalidArgumentError('push-pull expects an answer: call ExchangePeers, not Push');
        }
        return this.exchangePeers(message.value);
      default:
        throw new InvalidArgumentError('push message is empty: set gossip, flood or exchange_peers');
    }
  }

  /** A direct message a peer sent here: delivered to Receive. */
  async relayedSend(request: SendRequest): Promise<SendResponse> {
    this.messageChecks(request);
    const sender = this.admit(request.sender, 'send');
    const self = this.c.self.peerId;
    if (request.toPeerId !== self) {
      throw new FailedPreconditionError(`message is for ${request.toPeerId}, but this host is ${self}`);
    }
    this.deliverDirect(sender.peerId, request);
    return { messageId: request.messageId };
  }

  /** A direct message from the application: forwarded to its peer. */
  async applicationSend(request: SendRequest): Promise<SendResponse> {
    this.messageChecks(request);
    if (!isPeerId(request.toPeerId)) {
      throw new InvalidArgumentError(`to_peer_id "${request.toPeerId.slice(0, 80)}" is not a peer id`);
    }
    const messageId = request.messageId || randomUUID();
    if (request.toPeerId === this.c.self.peerId) {
      this.deliverDirect(this.c.self.peerId, { ...request, messageId });
      return { messageId };
    }
    const address = await this.addressOf(request.toPeerId);
    try {
      await this.c.transport.sendDirect(address, {
        sender: this.c.self,
        toPeerId: request.toPeerId,
        payload: request.payload,
        messageId,
      });
    } catch (error) {
      throw remoteError(error as ServiceError, request.toPeerId, address);
    }
    this.c.metrics.directMessages.inc({ direction: 'sent' });
    return { messageId };
  }

  /** A flood a peer relayed here: into the core, which delivers it once and passes it on. */
  async relayedFlood(request: FloodRequest): Promise<FloodResponse> {
    this.messageChecks(request);
    this.floodTtl(request.ttl);
    const sender = this.admit(request.sender, 'flood');
    if (request.messageId === '') throw new InvalidArgumentError('message_id is required on a relayed flood');
    if (!isPeerId(request.originPeerId)) throw new InvalidArgumentError('origin_peer_id must be a peer id');
    if (request.hops < 1 || request.hops > request.ttl) {
      throw new InvalidArgumentError(`hops ${request.hops} must be between 1 and ttl (${request.ttl})`);
    }
    this.c.driver.deliver({
      type: 'flood',
      from: sender.peerId,
      fromAddress: sender.address,
      id: request.messageId,
      origin: request.originPeerId,
      ttl: request.ttl,
      hops: request.hops,
      payload: request.payload,
    });
    return { messageId: request.messageId };
  }

  /** A flood the application starts from this host. */
  async applicationFlood(request: FloodRequest): Promise<FloodResponse> {
    this.messageChecks(request);
    this.floodTtl(request.ttl);
    const messageId = request.messageId || randomUUID();
    // The default must not exceed what this network's hosts accept from a relay.
    const ttl = request.ttl || Math.min(this.c.membership.floodTtlHops, this.c.config.maxFloodTtlHops);
    this.c.driver.flood(messageId, request.payload, ttl);
    return { messageId };
  }

  receive(call: ServerWritableStream<ReceiveRequest, ReceiveResponse>): Promise<void> {
    return new Promise((resolve) => {
      const unsubscribe = this.c.inbox.subscribe({
        write: (message) => {
          if (call.writableLength > RECEIVE_BUFFER_BYTES) return false;
          call.write(message);
          return true;
        },
        end: (error) => call.emit('error', errorToStatus(error, this.c.log, 'Receive')),
      });
      // Headers now, so the application knows it is subscribed before the first message comes.
      call.sendMetadata(new Metadata());
      const end = () => {
        unsubscribe();
        resolve();
      };
      call.on('close', end);
      onCallGone(call, end);
    });
  }

  peers(): PeersResponse {
    const node = this.c.driver.node;
    const peers = [...node.activeView(), ...node.passiveView()].map((peerId) => {
      const state = node.peerState(peerId)!;
      const blob = node.recordOf(peerId);
      const view = this.c.checker.verifier(blob!);
      return {
        peerId,
        address: view?.addresses[0] ?? '',
        view: state.view === 'active' ? PeerView.PEER_VIEW_ACTIVE : PeerView.PEER_VIEW_PASSIVE,
        suspected: state.suspected,
        incarnation: state.incarnation,
        record: blob && toWireRecord(blob),
      };
    });
    return { peerId: this.c.self.peerId, address: this.c.self.address, record: toWireRecord(node.record), peers };
  }

  // ---- checks -------------------------------------------------------------------------------------

  /**
   * A peer call: the sender is well formed, not this host, and within its rate. Application
   * messages (Send, Flood relays) and membership calls have a budget each, so a peer relaying a
   * flood storm cannot use up the budget that carries its probes and gossip here.
   */
  private admit(sender: Sender | undefined, type: string): Sender {
    const s = requireSender(sender);
    this.c.metrics.messagesReceived.child({ type }).inc();
    if (s.peerId === this.c.self.peerId) {
      throw new PermissionDeniedError(`sender claims to be this host (${s.peerId})`);
    }
    const application = type === 'send' || type === 'flood';
    const limiter = application ? this.c.limiters.application : this.c.limiters.membership;
    if (!limiter.take(s.peerId)) {
      this.c.metrics.rateLimited.inc();
      const what = application ? 'application messages' : 'membership calls';
      throw new ResourceExhaustedError(
        `peer ${s.peerId} exceeded ${this.c.config.peerCallsPerSecond} ${what} per second; slow down and retry`,
      );
    }
    return s;
  }

  private updates(updates: readonly MembershipUpdate[]): Update[] {
    if (updates.length > MAX_UPDATES_PER_CALL) {
      throw new ResourceExhaustedError(`${updates.length} updates in one call; at most ${MAX_UPDATES_PER_CALL}`);
    }
    updates.forEach((u, i) => {
      if (u.record) this.c.checker.open(u.record, `updates[${i}].record`);
    });
    return fromWireUpdates(updates);
  }

  private walkTtl(ttl: number): void {
    if (ttl > MAX_WALK_TTL) throw new InvalidArgumentError(`ttl ${ttl} is above the walk maximum of ${MAX_WALK_TTL}`);
  }

  /** The checks every Send and Flood passes first: payload size and message id length. */
  private messageChecks(request: { payload: Uint8Array; messageId: string }): void {
    const max = this.c.config.maxPayloadBytes;
    if (request.payload.length > max) {
      throw new ResourceExhaustedError(
        `payload is ${request.payload.length} bytes; at most ${max} are allowed (maxPayloadBytes)`,
      );
    }
    if (request.messageId.length > MAX_MESSAGE_ID_LENGTH) {
      throw new InvalidArgumentError(`message_id is longer than ${MAX_MESSAGE_ID_LENGTH} characters`);
    }
  }

  private floodTtl(ttl: number): void {
    const { maxFloodTtlHops } = this.c.config;
    if (ttl > maxFloodTtlHops)
      throw new InvalidArgumentError(`ttl ${ttl} is above the maximum of ${maxFloodTtlHops} hops`);
  }

  private knownSeq(peerId: string): number | undefined {
    const blob = this.c.driver.node.recordOf(peerId);
    return blob ? this.c.checker.verifier(blob)?.seq : undefined;
  }

  private async addressOf(peerId: string): Promise<string> {
    const blob = this.c.driver.node.recordOf(peerId);
    const known = blob && this.c.checker.verifier(blob)?.addresses[0];
    if (known) return known;
    const found = await this.c.lookup?.(peerId);
    if (found) return found;
    throw new NotFoundError(
      `peer ${peerId} is not in this host's views${this.c.lookup ? ' nor in the directory' : ' and no directory is configured'}`,
    );
  }

  private deliverDirect(from: string, request: SendRequest): void {
    this.c.metrics.directMessages.inc({ direction: 'received' });
    this.c.inbox.publish({
      kind: MessageKind.MESSAGE_KIND_DIRECT,
      messageId: request.messageId,
      fromPeerId: from,
      payload: request.payload,
      hops: 1,
      receivedAtMs: this.c.wallClock(),
    });
  }
}

/** The refusal of an application call made on the peer port. */
function applicationCall(what: string): Promise<never> {
  return Promise.reject(
    new PermissionDeniedError(
      `${what} is an application call: make it on this host's application port (appPort, on loopback by default), not on the peer port`,
    ),
  );
}

/** The refusal of a peer call made on the application port. */
function peerCall(what: string): Promise<never> {
  return Promise.reject(
    new PermissionDeniedError(
      `${what} is a peer call: peers make it on the host's peer port (grpcPort), not on the application port`,
    ),
  );
}

/** The answer to an exchange that has none to give (a shuffle, a notice, a push-pull unanswered). */
const NO_EXCHANGE_ANSWER: ExchangePeersResponse = Object.freeze({ records: [], incarnations: [], neighbor: false });

/** A relayed flood's id, as an announcement or a graft names it: present and not over-long. */
function floodId(id: string, field: string): string {
  if (id === '') throw new InvalidArgumentError(`${field} is required`);
  if (id.length > MAX_MESSAGE_ID_LENGTH) {
    throw new InvalidArgumentError(`${field} is longer than ${MAX_MESSAGE_ID_LENGTH} characters`);
  }
  return id;
}

/** A remote host's refusal keeps its meaning; anything else says the peer could not be reached. */
function remoteError(error: ServiceError, peerId: string, address: string): Error {
  const text = `peer ${peerId} at ${address}: ${error.details || error.message}`;
  switch (error.code) {
    case status.INVALID_ARGUMENT:
      return new InvalidArgumentError(text);
    case status.RESOURCE_EXHAUSTED:
      return new ResourceExhaustedError(text);
    case status.FAILED_PRECONDITION:
      return new FailedPreconditionError(text);
    case status.PERMISSION_DENIED:
      return new PermissionDeniedError(text);
    default:
      return new UnavailableError(`could not deliver to ${text}`);
  }
}

/** Flood events become Receive messages. */
export function floodMessage(
  event: { id: string; origin: string; hops: number; payload: Uint8Array },
  now: number,
): ReceiveResponse {
  return {
    kind: MessageKind.MESSAGE_KIND_FLOOD,
    messageId: event.id,
    fromPeerId: event.origin,
    payload: event.payload as Buffer,
    hops: event.hops,
    receivedAtMs: now,
  };
}
