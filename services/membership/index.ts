/**
 * The transport-free membership core. A transport (gRPC, or the simulator) delivers messages to
 * `MembershipNode.handle`, calls `tick` at `nextWakeAt()`, and sends what they return.
 */
export * from './config';
export { addressGroup } from './address-group';
export { Awareness, failedProbeDelta } from './awareness';
export { BroadcastQueue } from './broadcast-queue';
export { FloodCache } from './flood-cache';
export { FloodTree, MAX_ANNOUNCED_IDS, type FloodLink } from './flood-tree';
export * from './messages';
export * from './node';
export { createRng, pick, sample, shuffled, Sfc32, type Rng } from './rng';
export { remainingSuspicionTime, suspicionTimeout } from './suspicion';
export type { Transport } from './transport';
export { PeerViews, type PeerEntry } from './views';
