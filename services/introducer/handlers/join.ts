/**
 * Join: admit a newcomer that is who it says and reachable where it says.
 *
 * In order, cheapest first: the limits on the caller (joins per source, sample size), the record
 * (signature, network, not withdrawn, not older than the directory's), the address limit, then
 * the dial-back (a Handshake to the advertised address, with a deadline: no answer, or another
 * peer answering, means no entry), the check that the identity is not live at another address,
 * and only then the directory write. A refused join leaves the directory as it was.
 */
import { performance } from 'node:perf_hooks';
import { ServiceError, status } from '@grpc/grpc-js';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  GrapevineError,
  InvalidArgumentError,
  ResourceExhaustedError,
} from '../../common/errors';
import type { PeerRecord, SignedRecord } from '../../common/records';
import { HandshakeIntent, type HandshakeResponse } from '../../gen/grapevine/v1/host';
import type { JoinRequest, JoinResponse } from '../../gen/grapevine/v1/introducer';
import { hostOf } from '../../membership/address-group';
import type { IntroducerContext } from '../context';
import type { JoinOutcome } from '../metrics';
import { diverseSample, type Candidate } from '../sample';

/**
 * How long an admitted newcomer counts at its address before the directory's watch shows it; past
 * it (the directory was down, say) only the directory's list counts.
 */
const ADMISSION_HOLD_MS = 10_000;

/** Random directory entries drawn for each place in a Join's sample (repeats and misfits are skipped). */
const DIRECTORY_DRAWS_PER_PLACE = 4;

/** A refusal with the outcome it is counted under. */
class Refusal {
  constructor(
    readonly outcome: JoinOutcome,
    readonly error: Error,
  ) {}
}

export async function join(c: IntroducerContext, request: JoinRequest, source: string): Promise<JoinResponse> {
  try {
    const response = await admit(c, request, source);
    c.metrics.joins.inc({ outcome: 'ok' });
    return response;
  } catch (caught) {
    const refusal = caught instanceof Refusal ? caught : new Refusal(outcomeOf(caught), caught as Error);
    c.metrics.joins.inc({ outcome: refusal.outcome });
    throw refusal.error;
  }
}

async function admit(c: IntroducerContext, request: JoinRequest, source: string): Promise<JoinResponse> {
  const { config } = c;
  if (!c.joinLimiter.take(source)) {
    throw new Refusal(
      'rate_limited',
      new ResourceExhaustedError(
        `joins from ${source} exceed ${config.joinsPerSourcePerSecond} per second (joinsPerSourcePerSecond): retry in a second`,
      ),
    );
  }
  if (request.sampleSize > config.maxSampleSize) {
    throw new Refusal(
      'overloaded',
      new ResourceExhaustedError(
        `sample_size ${request.sampleSize} is above the limit of ${config.maxSampleSize} (maxSampleSize); ask for fewer, or 0 for the default of ${config.defaultSampleSize}`,
      ),
    );
  }
  const signed = request.record;
  const record = c.member.open(signed, 'record');
  const address = checkNewcomer(c, record);
  const release = reserveAddress(c, record, address);

  let answered: PeerRecord;
  let registered: Awaited<ReturnType<typeof register>>;
  const joinEnded = c.keeper.joinStarted(record.peerId, record.seq);
  try {
    answered = await dialBack(c, address, record.peerId);
    await checkNotLiveElsewhere(c, record, address);
    registered = await register(c, signed!, record);
  } catch (error) {
    release();
    throw error;
  } finally {
    // Nothing awaits between here and onAdmitted below, which records the write from then on.
    joinEnded();
  }
  // The keeper first: introducing the newcomer makes gossip report its record, which the keeper
  // must know it has just written.
  c.keeper.onAdmitted({ peerId: record.peerId, record, signed: signed! }, registered?.leaseId);
  const { sample: fromViews, told } = c.member.introduce(signed!);
  c.metrics.introductions.inc(told);
  c.log.info(
    { peer: record.peerId, address, source, seq: answered.seq, registered: registered !== undefined, told },
    'admitted a newcomer',
  );
  return {
    sample: sampleFor(c, record, fromViews, request.sampleSize || config.defaultSampleSize),
    leaseId: registered?.leaseId ?? '',
    ttlSeconds: registered?.ttlSeconds ?? 0,
    revision: registered?.revision ?? 0,
    introduced: told,
  };
}

/** The newcomer's record may join: a live, current record of another peer, with an address. */
function checkNewcomer(c: IntroducerContext, record: PeerRecord): string {
  if (record.withdrawn) {
    throw new Refusal(
      'invalid',
      new InvalidArgumentError('record is withdrawn (a tombstone): a leaving peer cannot join'),
    );
  }
  if (record.peerId === c.member.self.peerId) {
    throw new Refusal('invalid', new InvalidArgumentError(`record is this introducer's own (${record.peerId})`));
  }
  const address = record.addresses[0];
  if (!address) {
    throw new Refusal(
      'invalid',
      new InvalidArgumentError('record has no address: a newcomer must say where it listens'),
    );
  }
  const held = c.mirror.get(record.peerId);
  if (held && held.record.seq > record.seq) {
    throw new Refusal(
      'stale',
      new FailedPreconditionError(
        `record seq ${record.seq} is older than seq ${held.record.seq}, which the directory holds for peer ${record.peerId}: join with the newest record`,
      ),
    );
  }
  return address;
}

/**
 * One IP may hold only so many live peers: fresh identities from one place cannot fill the
 * directory. Joins under way count too (the place is taken here, before any await, and held until
 * the directory's watch shows the newcomer), so neither joins at once nor joins faster than the
 * watch get past the limit.
 */
function reserveAddress(c: IntroducerContext, record: PeerRecord, address: string): () => void {
  const host = hostOf(address) ?? address;
  const now = performance.now();
  const count = c.mirror.countAt(host, record.peerId, now);
  if (count >= c.config.maxPeersPerAddress) {
    throw new Refusal(
      'overloaded',
      new ResourceExhaustedError(
        `${count} live peers already advertise ${host}, the most one address may hold (maxPeersPerAddress)`,
      ),
    );
  }
  return c.mirror.reserve(record.peerId, host, now + ADMISSION_HOLD_MS);
}

/** Dials the advertised address back; the peer answering there must be the newcomer. */
async function dialBack(c: IntroducerContext, address: string, peerId: string): Promise<PeerRecord> {
  const { config, metrics } = c;
  if (c.dialBacks.inFlight >= config.maxConcurrentDialBacks) {
    throw new Refusal(
      'overloaded',
      new ResourceExhaustedError(
        `${c.dialBacks.inFlight} dial-backs are in flight, the most this introducer runs at once (maxConcurrentDialBacks): retry shortly`,
      ),
    );
  }
  c.dialBacks.inFlight++;
  metrics.dialBacksInFlight.set(c.dialBacks.inFlight);
  const started = performance.now();
  let answered: PeerRecord;
  try {
    const response = (await c.member.call(
      address,
      'handshake',
      { sender: c.member.self, record: c.member.record(), intent: HandshakeIntent.HANDSHAKE_INTENT_UNSPECIFIED },
      config.dialBackTimeoutMs,
    )) as HandshakeResponse;
    answered = c.member.open(response.record, 'dial-back answer');
  } catch (error) {
    metrics.dialBackSeconds.observe({ outcome: 'failed' }, (performance.now() - started) / 1_000);
    const what =
      (error as ServiceError).code !== undefined
        ? `${status[(error as ServiceError).code]}: ${(error as ServiceError).details}`
        : (error as Error).message;
    throw new Refusal(
      'unreachable',
      new FailedPreconditionError(
        `dial-back to ${address} failed (${what}): advertise an address this introducer can reach, within ${config.dialBackTimeoutMs} ms`,
      ),
    );
  } finally {
    c.dialBacks.inFlight--;
    metrics.dialBacksInFlight.set(c.dialBacks.inFlight);
  }
  metrics.dialBackSeconds.observe({ outcome: 'ok' }, (performance.now() - started) / 1_000);
  if (answered.peerId !== peerId) {
    throw new Refusal(
      'wrong_peer',
      new FailedPreconditionError(
        `dial-back to ${address} reached peer ${answered.peerId}, not ${peerId}: that address belongs to another peer`,
      ),
    );
  }
  return answered;
}

/**
 * One identity, one live instance: when the directory lists this peer at another address and
 * that address still answers as this peer, the newcomer is a second copy of the same key. A peer
 * that moved (the old address is silent) may join from its new one.
 */
async function checkNotLiveElsewhere(c: IntroducerContext, record: PeerRecord, address: string): Promise<void> {
  const held = c.mirror.get(record.peerId);
  const oldAddress = held?.record.addresses[0];
  if (!held || !oldAddress || oldAddress === address) return;
  let stillThere = false;
  try {
    const response = (await c.member.call(
      oldAddress,
      'handshake',
      { sender: c.member.self, record: c.member.record(), intent: HandshakeIntent.HANDSHAKE_INTENT_UNSPECIFIED },
      c.config.dialBackTimeoutMs,
    )) as HandshakeResponse;
    stillThere = c.member.open(response.record, 'record at the old address').peerId === record.peerId;
  } catch {
    stillThere = false;
  }
  if (stillThere) {
    throw new Refusal(
      'duplicate',
      new FailedPreconditionError(
        `peer ${record.peerId} is live at ${oldAddress}; a second instance at ${address} was refused: stop the other instance, or give this one a key of its own`,
      ),
    );
  }
}

/**
 * Registers the newcomer. When the directory is down the join still stands: the newcomer can
 * gossip, and the keeper registers it once the directory answers.
 */
async function register(
  c: IntroducerContext,
  signed: SignedRecord,
  record: PeerRecord,
): Promise<{ leaseId: string; ttlSeconds: number; revision: number } | undefined> {
  try {
    return await c.registrations.register(signed, c.config.directoryTtlSeconds);
  } catch (error) {
    const code = (error as ServiceError).code;
    const details = (error as ServiceError).details;
    if (code === status.FAILED_PRECONDITION) throw new Refusal('stale', new FailedPreconditionError(details));
    if (code === status.ALREADY_EXISTS) throw new Refusal('name_taken', new AlreadyExistsError(details));
    if (code === status.INVALID_ARGUMENT) throw new Refusal('invalid', new InvalidArgumentError(details));
    if (code === status.RESOURCE_EXHAUSTED) throw new Refusal('overloaded', new ResourceExhaustedError(details));
    c.log.warn(
      { peer: record.peerId, err: (error as Error).message },
      'directory did not take the registration; admitting the newcomer without it',
    );
    return undefined;
  }
}

/** The answer's peers: the introducer's views first, then the directory's members. */
function sampleFor(
  c: IntroducerContext,
  newcomer: PeerRecord,
  fromViews: SignedRecord[],
  size: number,
): SignedRecord[] {
  const [own, ...viewRecords] = fromViews.length > 0 ? fromViews : [c.member.record()];
  const candidate = (signed: SignedRecord): Candidate<SignedRecord> | undefined => {
    try {
      const record = c.member.open(signed, 'record');
      return record.addresses[0] ? { peerId: record.peerId, address: record.addresses[0], item: signed } : undefined;
    } catch {
      return undefined;
    }
  };
  // A few random draws per place, not the whole directory: a join costs the same at any size.
  const fromDirectory: Candidate<SignedRecord>[] = [];
  for (const entry of c.mirror.draw(() => c.rng.next(), DIRECTORY_DRAWS_PER_PLACE * size)) {
    const address = entry.record.addresses[0];
    if (address && !entry.record.withdrawn) fromDirectory.push({ peerId: entry.peerId, address, item: entry.signed });
  }
  return diverseSample(c.rng, {
    own,
    fromViews: viewRecords.map(candidate).filter((x): x is Candidate<SignedRecord> => x !== undefined),
    fromDirectory,
    exclude: new Set([newcomer.peerId, c.member.self.peerId]),
    size,
    maxPerGroup: c.node.config.maxPeersPerAddressGroup,
  });
}

/** Errors from the record checks keep their status; they count by what they mean. */
function outcomeOf(error: unknown): JoinOutcome {
  switch ((error as GrapevineError).name) {
    case 'PermissionDeniedError':
      return 'bad_signature';
    case 'InvalidArgumentError':
    case 'FailedPreconditionError':
    case 'ResourceExhaustedError':
      return 'invalid';
    default:
      return 'error';
  }
}
