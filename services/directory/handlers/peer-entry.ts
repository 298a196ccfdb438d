import { PeerEntry } from '../../gen/grapevine/v1/directory';
import { StoredPeer } from '../store/store';

export function toPeerEntry(peer: StoredPeer, nowMs: number): PeerEntry {
  return {
    record: peer.signed,
    revision: peer.revision,
    ttlRemainingMs: Math.max(0, Math.round(peer.expiresAtMs - nowMs)),
  };
}
