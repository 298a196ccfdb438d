/** grapevine_introducer_* metrics: joins, dial-backs, introductions, and how the directory is kept true. */
import { Counter, Gauge, Histogram } from 'prom-client';
import { Registry } from '../common/metrics';

/**
 * Why a join ended: ok, or the refusal. Few values on purpose (an alert on "no peers can join"
 * sums the non-ok ones).
 */
export type JoinOutcome =
  | 'ok'
  | 'invalid'
  | 'bad_signature'
  | 'stale'
  | 'unreachable'
  | 'wrong_peer'
  | 'duplicate'
  | 'name_taken'
  | 'rate_limited'
  | 'overloaded'
  | 'error';

export type DirectoryWrite = 'register' | 'renew' | 'update' | 'evict';
export type MemberProbeOutcome = 'ack' | 'indirect_ack' | 'failed';

export interface IntroducerMetrics {
  readonly joins: Counter<'outcome'>;
  readonly dialBackSeconds: Histogram<'outcome'>;
  readonly dialBacksInFlight: Gauge;
  readonly introductions: Counter;
  readonly deathsReported: Counter;
  readonly directoryWrites: Counter<'op' | 'outcome'>;
  readonly registerCalls: Counter;
  readonly registerEntries: Counter;
  readonly renewCalls: Counter;
  readonly renewEntries: Counter;
  readonly memberProbes: Counter<'outcome'>;
  readonly suspects: Gauge;
  readonly shareMembers: Gauge;
  readonly shareRatio: Gauge;
  readonly replicas: Gauge;
  readonly directoryMembers: Gauge;
}

export function createIntroducerMetrics(registry: Registry): IntroducerMetrics {
  const registers = [registry];
  return {
    joins: new Counter({
      name: 'grapevine_introducer_joins_total',
      help: 'Join calls by outcome: ok, invalid, bad_signature, stale, unreachable (dial-back failed), wrong_peer (another peer answered), duplicate (identity live elsewhere), name_taken, rate_limited, overloaded, error.',
      labelNames: ['outcome'],
      registers,
    }),
    dialBackSeconds: new Histogram({
      name: 'grapevine_introducer_dial_back_seconds',
      help: 'Seconds from dialling a newcomer back to its answer (or failure), by outcome (ok, failed).',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    dialBacksInFlight: new Gauge({
      name: 'grapevine_introducer_dial_backs_in_flight',
      help: 'Dial-backs waiting for a newcomer to answer.',
      registers,
    }),
    introductions: new Counter({
      name: 'grapevine_introducer_introductions_total',
      help: 'Members told about a newcomer (Introduce messages sent).',
      registers,
    }),
    deathsReported: new Counter({
      name: 'grapevine_introducer_deaths_reported_total',
      help: 'Dead members this introducer evicted from the directory before their lease ended.',
      registers,
    }),
    directoryWrites: new Counter({
      name: 'grapevine_introducer_directory_writes_total',
      help: 'Directory writes by op (register, renew, update, evict) and outcome (ok, or the gRPC code name).',
      labelNames: ['op', 'outcome'],
      registers,
    }),
    registerCalls: new Counter({
      name: 'grapevine_introducer_register_calls_total',
      help: 'Calls this introducer made to register peers (RegisterBatch, or Register to a directory without it).',
      registers,
    }),
    registerEntries: new Counter({
      name: 'grapevine_introducer_register_entries_total',
      help: 'Registrations those calls carried: over register_calls_total, 1 while joins come alone, more while they arrive faster than the directory answers.',
      registers,
    }),
    renewCalls: new Counter({
      name: 'grapevine_introducer_renew_calls_total',
      help: "Calls this introducer made to renew its members' leases (RenewBatch, or Renew to a directory without it).",
      registers,
    }),
    renewEntries: new Counter({
      name: 'grapevine_introducer_renew_entries_total',
      help: 'Lease renewals those calls carried: over renew_calls_total, the renewals per call.',
      registers,
    }),
    memberProbes: new Counter({
      name: 'grapevine_introducer_member_probes_total',
      help: "Probes of the members in this replica's share, by outcome (ack, indirect_ack, failed).",
      labelNames: ['outcome'],
      registers,
    }),
    suspects: new Gauge({
      name: 'grapevine_introducer_suspects',
      help: 'Members of this share that failed their probes and will be evicted unless they answer.',
      registers,
    }),
    shareMembers: new Gauge({
      name: 'grapevine_introducer_probe_share_members',
      help: 'Directory members this replica probes (its rendezvous-hash share).',
      registers,
    }),
    shareRatio: new Gauge({
      name: 'grapevine_introducer_probe_share_ratio',
      help: "This replica's share of the directory's members, 0 to 1; about 1/replicas when balanced.",
      registers,
    }),
    replicas: new Gauge({
      name: 'grapevine_introducer_replicas',
      help: 'Live introducers this replica sees in the directory, itself included.',
      registers,
    }),
    directoryMembers: new Gauge({
      name: 'grapevine_introducer_directory_members',
      help: "Members in this replica's copy of the directory (list, then watch).",
      registers,
    }),
  };
}
