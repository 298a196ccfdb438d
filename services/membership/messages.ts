/**
 * The messages peers exchange, independent of any transport. The gRPC transport maps each to an
 * RPC; the simulator delivers the objects as they are. Records travel as opaque signed blobs and
 * are relayed unchanged.
 */

export type PeerId = string;

/**
 * A signed peer record exactly as its peer issued it (the shape of grapevine.v1.SignedRecord).
 * The core never re-encodes one: relaying passes the same bytes on.
 */
export interface SignedRecordBlob {
  readonly record: Uint8Array;
  readonly signature: Uint8Array;
}

/** What the core needs to know of a verified record. */
export interface RecordView {
  readonly peerId: PeerId;
  readonly seq: number;
  readonly addresses: readonly string[];
  readonly withdrawn?: boolean;
}

/**
 * Checks a record's signature and parses it; undefined when it does not verify or is malformed.
 * The real one wraps services/common/records.ts openRecord (node:crypto), injected by the host.
 */
export type RecordVerifier = (blob: SignedRecordBlob) => RecordView | undefined;

export const UpdateKind = { Alive: 0, Suspect: 1, Dead: 2 } as const;
export type UpdateKind = (typeof UpdateKind)[keyof typeof UpdateKind];

/**
 * A membership update, piggybacked on other messages. `from` is the peer whose judgement it is
 * (the suspecter, the declarer; the peer itself for alive and for a graceful leave).
 */
export interface Update {
  readonly kind: UpdateKind;
  readonly peer: PeerId;
  readonly incarnation: number;
  readonly from: PeerId;
  /** Alive updates may carry the peer's record, so a newer record spreads with its liveness. */
  readonly record?: SignedRecordBlob;
}

interface Header {
  /** The sending peer's id and the address it can be answered at. */
  readonly from: PeerId;
  readonly fromAddress: string;
}

interface WithUpdates {
  readonly updates: readonly Update[];
}

/** SWIM probe. `neighbor` says the sender holds the receiver in its active view. */
export interface Ping extends Header, WithUpdates {
  readonly type: 'ping';
  readonly seq: number;
  readonly neighbor: boolean;
}

/**
 * Answer to a ping. Carries the sender's incarnation, so an ack after a refutation refutes, and
 * says when the pinger is not (or no longer) in the sender's active view, so one-sided links heal.
 */
export interface Ack extends Header, WithUpdates {
  readonly type: 'ack';
  readonly seq: number;
  readonly incarnation: number;
  readonly notNeighbor: boolean;
}

/** Ask a relay to ping `target` for us (indirect probe). */
export interface PingReq extends Header, WithUpdates {
  readonly type: 'ping-req';
  readonly seq: number;
  readonly target: PeerId;
  readonly targetAddress: string;
}

/** Lifeguard: the relay could not reach the target in time (so the relay can reach us). */
export interface Nack extends Header {
  readonly type: 'nack';
  readonly seq: number;
}

/** Updates alone: telling a suspect, confirmations, refutations, deaths. */
export interface Gossip extends Header, WithUpdates {
  readonly type: 'gossip';
}

/** HyParView: a newcomer asks its contact to take it in. */
export interface Join extends Header {
  readonly type: 'join';
  readonly record: SignedRecordBlob;
}

/** HyParView: a join's random walk through the active views. */
export interface ForwardJoin extends Header {
  readonly type: 'forward-join';
  readonly record: SignedRecordBlob;
  readonly ttl: number;
}

/** HyParView: ask to become active neighbours; high priority when the sender has none. */
export interface Neighbor extends Header {
  readonly type: 'neighbor';
  readonly record: SignedRecordBlob;
  readonly highPriority: boolean;
}

/** Answer to Neighbor or Join; an accepted one unasked also makes a link (end of a join walk). */
export interface NeighborReply extends Header {
  readonly type: 'neighbor-reply';
  readonly record: SignedRecordBlob;
  readonly accepted: boolean;
  /**
   * With a refusal: the record of another peer this one refused a moment ago. Both are short of
   * neighbours, so they can take each other without dropping anyone.
   */
  readonly referral?: SignedRecordBlob;
}

/** HyParView: the sender drops the link; the receiver keeps it as a passive candidate. */
export interface Disconnect extends Header {
  readonly type: 'disconnect';
}

/**
 * Records passed on with what the sender knows of their peers' liveness: `incarnations[i]` is the
 * incarnation it holds for the peer of `records[i]` (missing ones count as 0, as from a sender
 * that does not say). A signed record carries no incarnation, and a peer taken in at 0 would take
 * up any old rumour about it, refuted long ago, as news.
 */
export interface WithRecords {
  readonly records: readonly SignedRecordBlob[];
  readonly incarnations?: readonly number[];
}

/** HyParView shuffle: a sample of the origin's views, walking `ttl` more hops. */
export interface Shuffle extends Header, WithRecords {
  readonly type: 'shuffle';
  readonly origin: PeerId;
  readonly originAddress: string;
  readonly ttl: number;
}

export interface ShuffleReply extends Header, WithRecords {
  readonly type: 'shuffle-reply';
}

/**
 * Anti-entropy with one neighbour: the sender's own record first, then its active neighbours'
 * records (which also tells the receiver who the sender's neighbours are).
 */
export interface PushPull extends Header, WithRecords {
  readonly type: 'push-pull';
  /** An answer to a push-pull, or a one-way notice (sent to neighbours when the view changes). */
  readonly reply: boolean;
  /** The sender holds the receiver in its active view (absent: it does not). */
  readonly neighbor?: boolean;
}

/** An application message flooded over the active views. */
export interface Flood extends Header {
  readonly type: 'flood';
  readonly id: string;
  /** The peer that started the flood (relays keep it; `from` is the last hop). */
  readonly origin: PeerId;
  readonly ttl: number;
  readonly hops: number;
  readonly payload: Uint8Array;
}

/**
 * Plumtree's PRUNE: a flood reached the sender twice, once over this link. The link leaves the
 * flood tree: each end announces floods to the other instead of pushing them.
 */
export interface FloodPrune extends Header {
  readonly type: 'flood-prune';
}

/** Plumtree's IHAVE: the ids of the floods the sender got since it last announced, for a link off the tree. */
export interface FloodAnnounce extends Header {
  readonly type: 'flood-announce';
  readonly ids: readonly string[];
}

/**
 * Plumtree's GRAFT: the sender was announced a flood that never reached it over the tree. It asks
 * for the flood, and the link joins the tree again.
 */
export interface FloodGraft extends Header {
  readonly type: 'flood-graft';
  readonly id: string;
}

/** A member tells one of its peers about a newcomer it introduced. */
export interface Introduce extends Header {
  readonly type: 'introduce';
  readonly record: SignedRecordBlob;
}

export type Message =
  | Ping
  | Ack
  | PingReq
  | Nack
  | Gossip
  | Join
  | ForwardJoin
  | Neighbor
  | NeighborReply
  | Disconnect
  | Shuffle
  | ShuffleReply
  | PushPull
  | Flood
  | FloodPrune
  | FloodAnnounce
  | FloodGraft
  | Introduce;

export type MessageType = Message['type'];

export const MESSAGE_TYPES: readonly MessageType[] = [
  'ping',
  'ack',
  'ping-req',
  'nack',
  'gossip',
  'join',
  'forward-join',
  'neighbor',
  'neighbor-reply',
  'disconnect',
  'shuffle',
  'shuffle-reply',
  'push-pull',
  'flood',
  'flood-prune',
  'flood-announce',
  'flood-graft',
  'introduce',
];

/** A message and where it goes. `address` is the receiver's "host:port". */
export interface Outgoing {
  readonly to: PeerId;
  readonly address: string;
  readonly message: Message;
}

// ---- size model ---------------------------------------------------------------------------------
//
// The simulator counts bytes with these sizes: protobuf-encoded sizes of the messages as the gRPC
// transport will send them, plus framing. They are estimates, not measurements of real frames.
//
// - Framing: HTTP/2 DATA frame header 9 bytes + gRPC length prefix 5 bytes + HTTP/2 HEADERS for
//   a unary call after HPACK has warmed up, about 30 bytes: FRAME_BYTES = 44.
// - A peer id is 53 characters; with its protobuf tag and length, 55 bytes.
// - An address "10.1.2.3:7946" is about 16 bytes with its tag.
// - A signed record: PeerRecord with id, network, two addresses, two labels, seq and issued-at is
//   about 130 bytes, the 64-byte Ed25519 signature and tags bring it to RECORD_BYTES = 200.
// - Small integers (seq, incarnation, ttl) are varints: 1 tag byte + up to 5 bytes, taken as 5.
//   A record's incarnation beside it is packed (no tag of its own), taken as 2 bytes, plus 2 for
//   the packed field's tag and length.

export const FRAME_BYTES = 44;
export const PEER_ID_BYTES = 55;
export const ADDRESS_BYTES = 16;
export const RECORD_BYTES = 200;
export const VARINT_BYTES = 5;
const PACKED_INCARNATION_BYTES = 2;
const HEADER_BYTES = PEER_ID_BYTES + ADDRESS_BYTES;
/** kind + peer + incarnation + from, with the nested message's own tag and length. */
const UPDATE_BYTES = 2 + PEER_ID_BYTES + VARINT_BYTES + PEER_ID_BYTES + 2;

export function updateBytes(update: Update): number {
  return UPDATE_BYTES + (update.record ? RECORD_BYTES : 0);
}

/** The records and the incarnations beside them. */
function recordsBytes(message: WithRecords): number {
  const count = message.records.length;
  const incarnations = message.incarnations?.length ?? 0;
  return count * RECORD_BYTES + (incarnations > 0 ? 2 + incarnations * PACKED_INCARNATION_BYTES : 0);
}

function updatesBytes(updates: readonly Update[]): number {
  let total = 0;
  for (let i = 0; i < updates.length; i++) total += updateBytes(updates[i]);
  return total;
}

/** The modelled on-the-wire size of a message, in bytes (see the size model above). */
export function messageBytes(message: Message): number {
  const base = FRAME_BYTES + HEADER_BYTES;
  switch (message.type) {
    case 'ping':
      return base + VARINT_BYTES + 2 + updatesBytes(message.updates);
    case 'ack':
      return base + 2 * VARINT_BYTES + 2 + updatesBytes(message.updates);
    case 'ping-req':
      return base + VARINT_BYTES + PEER_ID_BYTES + ADDRESS_BYTES + updatesBytes(message.updates);
    case 'nack':
      return base + VARINT_BYTES;
    case 'gossip':
      return base + updatesBytes(message.updates);
    case 'join':
    case 'introduce':
      return base + RECORD_BYTES;
    case 'forward-join':
      return base + RECORD_BYTES + VARINT_BYTES;
    case 'neighbor':
      return base + RECORD_BYTES + 2;
    case 'neighbor-reply':
      return base + RECORD_BYTES + 2 + (message.referral ? RECORD_BYTES : 0);
    case 'disconnect':
      return base;
    case 'shuffle':
      return base + PEER_ID_BYTES + ADDRESS_BYTES + VARINT_BYTES + recordsBytes(message);
    case 'shuffle-reply':
      return base + recordsBytes(message);
    case 'push-pull':
      return base + 4 + recordsBytes(message);
    case 'flood':
      // id (16 bytes + tag), origin, ttl, hops, payload with its tag and length.
      return base + 18 + PEER_ID_BYTES + 2 * VARINT_BYTES + message.payload.length + 3;
    case 'flood-prune':
      return base + 2;
    case 'flood-announce':
      // Each id: 16 bytes with its tag and length.
      return base + 2 + message.ids.length * 18;
    case 'flood-graft':
      return base + 2 + 18;
  }
}
