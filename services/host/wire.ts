/**
 * The membership core's messages on the wire: which Host RPC carries each one, and how requests
 * and responses turn back into core messages. Pure conversions, no I/O.
 *
 * Request/answer pairs of the core ride one unary call: a ping's ack is the Ping response, a
 * ping-req's ack or nack the IndirectPing response, a join's or neighbour request's reply the
 * Handshake response, a push-pull's reply the ExchangePeers response. Everything else is a
 * one-way call with an empty response.
 */
import { isPeerId } from '../common/identity';
import { InvalidArgumentError } from '../common/errors';
import { parseHostPort } from '../common/records';
import {
  ExchangeKind,
  ExchangePeersRequest,
  ExchangePeersResponse,
  FloodRequest,
  GossipRequest,
  HandshakeIntent,
  HandshakeRequest,
  HandshakeResponse,
  IndirectPingOutcome,
  IndirectPingRequest,
  IndirectPingResponse,
  MembershipUpdate,
  PingRequest,
  PingResponse,
  PushRequest,
  Sender,
  UpdateKind as WireUpdateKind,
} from '../gen/grapevine/v1/host';
import type { SignedRecord } from '../gen/grapevine/v1/record';
import {
  UpdateKind,
  type Ack,
  type Message,
  type Nack,
  type NeighborReply,
  type Outgoing,
  type PushPull,
  type SignedRecordBlob,
  type Update,
  type WithRecords,
} from '../membership';

/** One outgoing peer call: the RPC and its request. */
export type PeerCall =
  | { readonly method: 'ping'; readonly request: PingRequest }
  | { readonly method: 'indirectPing'; readonly request: IndirectPingRequest }
  | { readonly method: 'handshake'; readonly request: HandshakeRequest }
  | { readonly method: 'exchangePeers'; readonly request: ExchangePeersRequest }
  | { readonly method: 'gossip'; readonly request: GossipRequest }
  | { readonly method: 'flood'; readonly request: FloodRequest };

export type PeerMethod = PeerCall['method'];

// ---- records and updates --------------------------------------------------------------------------

/** The core's blob and the generated SignedRecord share a shape; bytes pass through unchanged. */
export function toWireRecord(blob: SignedRecordBlob): SignedRecord {
  return blob as SignedRecord;
}

/** Records and the incarnations beside them, as ExchangePeers carries both. */
export function toWireRecords(message: WithRecords): { records: SignedRecord[]; incarnations: number[] } {
  return { records: message.records.map(toWireRecord), incarnations: [...(message.incarnations ?? [])] };
}

const KIND_TO_WIRE: Record<UpdateKind, WireUpdateKind> = {
  [UpdateKind.Alive]: WireUpdateKind.UPDATE_KIND_ALIVE,
  [UpdateKind.Suspect]: WireUpdateKind.UPDATE_KIND_SUSPECT,
  [UpdateKind.Dead]: WireUpdateKind.UPDATE_KIND_DEAD,
};

export function toWireUpdates(updates: readonly Update[]): MembershipUpdate[] {
  return updates.map((u) => ({
    kind: KIND_TO_WIRE[u.kind],
    peerId: u.peer,
    incarnation: u.incarnation,
    fromPeerId: u.from,
    record: u.record && toWireRecord(u.record),
  }));
}

export function fromWireUpdates(updates: readonly MembershipUpdate[]): Update[] {
  return updates.map((u, i) => {
    const kind = fromWireKind(u.kind);
    if (kind === undefined)
      throw new InvalidArgumentError(`updates[${i}].kind ${u.kind} is not alive, suspect or dead`);
    if (!isPeerId(u.peerId) || !isPeerId(u.fromPeerId)) {
      throw new InvalidArgumentError(`updates[${i}] must name peers by their peer ids (peer_id, from_peer_id)`);
    }
    return { kind, peer: u.peerId, incarnation: u.incarnation, from: u.fromPeerId, record: u.record };
  });
}

function fromWireKind(kind: WireUpdateKind): UpdateKind | undefined {
  switch (kind) {
    case WireUpdateKind.UPDATE_KIND_ALIVE:
      return UpdateKind.Alive;
    case WireUpdateKind.UPDATE_KIND_SUSPECT:
      return UpdateKind.Suspect;
    case WireUpdateKind.UPDATE_KIND_DEAD:
      return UpdateKind.Dead;
    default:
      return undefined;
  }
}

/** The sender a peer call must name; INVALID_ARGUMENT when it is missing or malformed. */
export function requireSender(sender: Sender | undefined, field = 'sender'): Sender {
  if (!sender) throw new InvalidArgumentError(`${field} is missing: peer calls must name the calling peer`);
  if (!isPeerId(sender.peerId)) {
    throw new InvalidArgumentError(`${field}.peer_id "${sender.peerId.slice(0, 80)}" is not a peer id`);
  }
  if (!parseHostPort(sender.address)) {
    throw new InvalidArgumentError(`${field}.address "${sender.address.slice(0, 80)}" is not host:port`);
  }
  return sender;
}

// ---- outgoing: core message → call ------------------------------------------------------------------

/**
 * The call that carries `message`, or undefined for a message that only travels as an answer
 * (an ack, a nack, a push-pull reply, a refusal) and has no call left to ride.
 */
export function callFor(message: Message): PeerCall | undefined {
  const sender: Sender = { peerId: message.from, address: message.fromAddress };
  switch (message.type) {
    case 'ping':
      return {
        method: 'ping',
        request: { sender, seq: message.seq, neighbor: message.neighbor, updates: toWireUpdates(message.updates) },
      };
    case 'ping-req':
      return {
        method: 'indirectPing',
        request: {
          sender,
          seq: message.seq,
          target: { peerId: message.target, address: message.targetAddress },
          updates: toWireUpdates(message.updates),
        },
      };
    case 'join':
      return handshake(sender, message.record, HandshakeIntent.HANDSHAKE_INTENT_JOIN);
    case 'neighbor':
      return handshake(
        sender,
        message.record,
        message.highPriority
          ? HandshakeIntent.HANDSHAKE_INTENT_NEIGHBOR_URGENT
          : HandshakeIntent.HANDSHAKE_INTENT_NEIGHBOR,
      );
    case 'neighbor-reply':
      // Unasked and accepted: the end of a join walk tells the newcomer it has a neighbour.
      return message.accepted ? handshake(sender, message.record, HandshakeIntent.HANDSHAKE_INTENT_ACCEPT) : undefined;
    case 'shuffle':
      return {
        method: 'exchangePeers',
        request: {
          sender,
          kind: ExchangeKind.EXCHANGE_KIND_SHUFFLE,
          ...toWireRecords(message),
          origin: { peerId: message.origin, address: message.originAddress },
          ttl: message.ttl,
          neighbor: false,
        },
      };
    case 'shuffle-reply':
      return {
        method: 'exchangePeers',
        request: {
          sender,
          kind: ExchangeKind.EXCHANGE_KIND_SHUFFLE_REPLY,
          ...toWireRecords(message),
          ttl: 0,
          neighbor: false,
        },
      };
    case 'push-pull':
      // A reply the driver did not hand to its call is a one-way notice (or an answer too late
      // for its call, which serves as one).
      return {
        method: 'exchangePeers',
        request: {
          sender,
          kind: message.reply ? ExchangeKind.EXCHANGE_KIND_PUSH_PULL_NOTICE : ExchangeKind.EXCHANGE_KIND_PUSH_PULL,
          ...toWireRecords(message),
          ttl: 0,
          neighbor: message.neighbor ?? false,
        },
      };
    case 'gossip':
      return {
        method: 'gossip',
        request: { sender, body: { $case: 'updates', value: { updates: toWireUpdates(message.updates) } } },
      };
    case 'forward-join':
      return {
        method: 'gossip',
        request: {
          sender,
          body: { $case: 'forwardJoin', value: { record: toWireRecord(message.record), ttl: message.ttl } },
        },
      };
    case 'disconnect':
      return { method: 'gossip', request: { sender, body: { $case: 'disconnect', value: {} } } };
    case 'introduce':
      return {
        method: 'gossip',
        request: { sender, body: { $case: 'introduction', value: { record: toWireRecord(message.record) } } },
      };
    case 'flood-prune':
      return { method: 'gossip', request: { sender, body: { $case: 'floodPrune', value: {} } } };
    case 'flood-announce':
      return {
        method: 'gossip',
        request: { sender, body: { $case: 'floodAnnounce', value: { messageIds: [...message.ids] } } },
      };
    case 'flood-graft':
      return { method: 'gossip', request: { sender, body: { $case: 'floodGraft', value: { messageId: message.id } } } };
    case 'flood':
      return {
        method: 'flood',
        request: {
          sender,
          messageId: message.id,
          ttl: message.ttl,
          hops: message.hops,
          payload: message.payload as Buffer,
          originPeerId: message.origin,
        },
      };
    case 'ack':
    case 'nack':
      return undefined;
  }
}

function handshake(sender: Sender, record: SignedRecordBlob, intent: HandshakeIntent): PeerCall {
  return { method: 'handshake', request: { sender, record: toWireRecord(record), intent } };
}

// ---- outgoing: response → core message ------------------------------------------------------------

/**
 * The core message a call's response stands for, or undefined when it carries none. `out` is
 * what was sent: the answering peer is the one it was sent to, at the address it was sent to.
 */
export function answerOf(out: Outgoing, call: PeerCall, response: unknown): Message | undefined {
  const from = out.to;
  const fromAddress = out.address;
  switch (call.method) {
    case 'ping': {
      const r = response as PingResponse;
      // A different peer answering at the address means the one we probed is not there.
      if (r.sender?.peerId !== from) return undefined;
      return {
        type: 'ack',
        from,
        fromAddress,
        seq: r.seq,
        incarnation: r.incarnation,
        notNeighbor: r.notNeighbor,
        updates: fromWireUpdates(r.updates),
      } satisfies Ack;
    }
    case 'indirectPing': {
      const r = response as IndirectPingResponse;
      if (r.outcome === IndirectPingOutcome.INDIRECT_PING_OUTCOME_ACK) {
        return {
          type: 'ack',
          from,
          fromAddress,
          seq: r.seq,
          incarnation: r.incarnation,
          notNeighbor: false,
          updates: [],
        };
      }
      if (r.outcome === IndirectPingOutcome.INDIRECT_PING_OUTCOME_NACK) {
        return { type: 'nack', from, fromAddress, seq: r.seq } satisfies Nack;
      }
      return undefined;
    }
    case 'handshake': {
      const intent = call.request.intent;
      if (
        intent !== HandshakeIntent.HANDSHAKE_INTENT_JOIN &&
        intent !== HandshakeIntent.HANDSHAKE_INTENT_NEIGHBOR &&
        intent !== HandshakeIntent.HANDSHAKE_INTENT_NEIGHBOR_URGENT
      ) {
        return undefined;
      }
      const r = response as HandshakeResponse;
      if (!r.record) return undefined;
      return {
        type: 'neighbor-reply',
        from,
        fromAddress,
        record: r.record,
        accepted: r.accepted,
        ...(r.referral && !r.accepted ? { referral: r.referral } : {}),
      } satisfies NeighborReply;
    }
    case 'exchangePeers': {
      if (call.request.kind !== ExchangeKind.EXCHANGE_KIND_PUSH_PULL) return undefined;
      const r = response as ExchangePeersResponse;
      if (r.records.length === 0) return undefined;
      return {
        type: 'push-pull',
        from,
        fromAddress,
        records: r.records,
        incarnations: r.incarnations,
        reply: true,
        neighbor: r.neighbor,
      } satisfies PushPull;
    }
    case 'gossip':
    case 'flood':
      return undefined;
  }
}

// ---- incoming: answer → response ---------------------------------------------------------------------

export function pingResponseOf(ack: Ack | undefined, self: Sender, seq: number): PingResponse {
  if (!ack) return { sender: self, seq, incarnation: 0, notNeighbor: false, updates: [] };
  return {
    sender: self,
    seq: ack.seq,
    incarnation: ack.incarnation,
    notNeighbor: ack.notNeighbor,
    updates: toWireUpdates(ack.updates),
  };
}

export function indirectPingResponseOf(answer: Message | undefined, self: Sender, seq: number): IndirectPingResponse {
  if (answer?.type === 'ack') {
    return {
      sender: self,
      seq,
      outcome: IndirectPingOutcome.INDIRECT_PING_OUTCOME_ACK,
      incarnation: answer.incarnation,
    };
  }
  if (answer?.type === 'nack') {
    return { sender: self, seq, outcome: IndirectPingOutcome.INDIRECT_PING_OUTCOME_NACK, incarnation: 0 };
  }
  return { sender: self, seq, outcome: IndirectPingOutcome.INDIRECT_PING_OUTCOME_UNSPECIFIED, incarnation: 0 };
}

/**
 * The Push stream message for a one-way call (gossip, a relayed flood, a shuffle or its reply), or
 * undefined for a call whose answer the core waits for.
 */
export function pushOf(call: PeerCall): PushRequest | undefined {
  switch (call.method) {
    case 'gossip':
      return { message: { $case: 'gossip', value: call.request } };
    case 'flood':
      return { message: { $case: 'flood', value: call.request } };
    case 'exchangePeers':
      return call.request.kind === ExchangeKind.EXCHANGE_KIND_PUSH_PULL
        ? undefined
        : { message: { $case: 'exchangePeers', value: call.request } };
    default:
      return undefined;
  }
}
