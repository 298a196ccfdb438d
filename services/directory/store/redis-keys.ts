/**
 * Redis key names. Every key of network N starts with `gv:{N}:`, so the hash tag `{N}` puts all of
 * a network's keys in one Redis Cluster slot and each Lua script touches a single slot.
 *
 * | key                      | type   | holds                                                          |
 * | ------------------------ | ------ | -------------------------------------------------------------- |
 * | gv:{N}:peer:<id>         | string | the stored peer: header (deadline, TTL, seq, revision, lease    |
 * |                          |        | secret, name) then record and signature bytes (redis-codec.ts)  |
 * | gv:{N}:name:<name>       | string | the peer id holding the name                                    |
 * | gv:{N}:lease:<secret>    | string | the peer id holding the lease `<N>.<secret>`                    |
 * | gv:{N}:ids               | zset   | peer ids, all scored 0, for paging with ZRANGEBYLEX             |
 * | gv:{N}:deadlines         | zset   | peer id scored by lease deadline (ms, store clock)              |
 * | gv:{N}:floor:<id>        | string | "<seq>:<until ms>" left by a removal; PX seqFloorRetentionMs    |
 * | gv:{N}:log               | stream | change events, entry id `<revision>-0`, MAXLEN ~ logRetention   |
 * | gv:{N}:rev               | string | the network's current revision                                  |
 * | gv:{N}:base              | string | the revision the counter started from after it was last absent |
 * | gv:networks              | set    | every network written to, for the sweeper and the peers gauge   |
 */

/** Networks the sweeper visits. Not in any network's slot: it is only read and added to. */
export const NETWORKS_KEY = 'gv:networks';

export interface NetworkKeys {
  /** `gv:{N}:`, the start of every key of the network; Lua scripts build per-peer keys from it. */
  readonly prefix: string;
  readonly rev: string;
  readonly base: string;
  readonly log: string;
  readonly ids: string;
  readonly deadlines: string;
  peer(peerId: string): string;
  name(name: string): string;
  lease(secret: string): string;
  floor(peerId: string): string;
}

export function networkKeys(network: string): NetworkKeys {
  const prefix = `gv:{${network}}:`;
  return {
    prefix,
    rev: `${prefix}rev`,
    base: `${prefix}base`,
    log: `${prefix}log`,
    ids: `${prefix}ids`,
    deadlines: `${prefix}deadlines`,
    peer: (peerId) => `${prefix}peer:${peerId}`,
    name: (name) => `${prefix}name:${name}`,
    lease: (secret) => `${prefix}lease:${secret}`,
    floor: (peerId) => `${prefix}floor:${peerId}`,
  };
}
