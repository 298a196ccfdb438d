/**
 * What the core needs from a transport: a way to send one message to a peer's address, best
 * effort. Delivery in the other direction is the driver calling `MembershipNode.handle`, and time
 * is the driver calling `tick` at `nextWakeAt()`. The gRPC transport and the simulator's network
 * both implement this (checked with `satisfies Transport`), so the core runs unchanged on either.
 */
import type { Outgoing } from './messages';

export interface Transport {
  /** Sends one message. Never throws for an unreachable peer: a lost message is a lost packet. */
  send(out: Outgoing): void;
}
