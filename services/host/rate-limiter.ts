/** The host's per-peer call limit uses the shared token bucket. */
export { RateLimiter } from '../common/rate-limiter';
