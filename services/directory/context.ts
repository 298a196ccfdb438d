/** What every directory handler is given: dependencies, never globals. */
import { Logger } from '../common/logging';
import { RateLimiter } from '../common/rate-limiter';
import { DirectoryConfig } from './config';
import { DirectoryMetrics } from './metrics';
import { DirectoryStore } from './store/store';
import { WatchFanout } from './watch-fanout';
import { WatchRegistry } from './watch-registry';

export interface DirectoryContext {
  readonly store: DirectoryStore;
  readonly config: DirectoryConfig;
  readonly metrics: DirectoryMetrics;
  readonly log: Logger;
  readonly watches: WatchRegistry;
  /** When and what every Watch stream of the process writes. */
  readonly watchFanout: WatchFanout;
  /** Registrations per client address (registrationsPerSourcePerSecond). */
  readonly registrations: RateLimiter;
  /** The clock the store's deadlines use, ms since the epoch. */
  readonly now: () => number;
}
