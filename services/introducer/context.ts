/** What the Introducer's handlers are given: dependencies, never globals. */
import type { DirectoryClient } from '../client/directory-client';
import type { RegistrationBatcher } from '../client/registration-batcher';
import type { Logger } from '../common/logging';
import type { MemberAccess } from '../host/server';
import type { MembershipNode, Rng } from '../membership';
import type { RateLimiter } from '../common/rate-limiter';
import type { IntroducerConfig } from './config';
import type { DirectoryKeeper } from './directory-keeper';
import type { DirectoryMirror } from './directory-mirror';
import type { IntroducerMetrics } from './metrics';

export interface IntroducerContext {
  readonly config: IntroducerConfig;
  /** The introducer as a gossip member: its record, its calls to peers, introductions. */
  readonly member: MemberAccess;
  /** Its membership core, for the views a sample draws on. */
  readonly node: MembershipNode;
  readonly directory: DirectoryClient;
  /** Registrations of newcomers and members, several to a call under load. */
  readonly registrations: RegistrationBatcher;
  readonly mirror: DirectoryMirror;
  readonly keeper: DirectoryKeeper;
  /** Joins per source address. */
  readonly joinLimiter: RateLimiter;
  /** Dial-backs in flight now; a counter the Join handler keeps. */
  readonly dialBacks: { inFlight: number };
  readonly rng: Rng;
  readonly metrics: IntroducerMetrics;
  readonly log: Logger;
}
