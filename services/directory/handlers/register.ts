import { InvalidArgumentError, ResourceExhaustedError } from '../../common/errors';
import { outcomeLabel } from '../../common/grpc-status';
import { openRecord } from '../../common/records';
import { RegisterRequest, RegisterResponse } from '../../gen/grapevine/v1/directory';
import { DirectoryContext } from '../context';

/**
 * `source` is the caller's address; registrations are limited per source before anything else,
 * except for introducers (`trusted`: the call carries the introducer token), which register
 * newcomers and re-register members on their behalf, all from one address.
 */
export async function register(
  context: DirectoryContext,
  request: RegisterRequest,
  source: string,
  trusted = false,
): Promise<RegisterResponse> {
  try {
    if (!trusted && !context.registrations.take(source)) {
      const { registrationsPerSourcePerSecond: rate } = context.config;
      throw new ResourceExhaustedError(
        `registrations from ${source} exceed ${rate} per second (registrationsPerSourcePerSecond): retry in a second`,
      );
    }
    const record = openRecord(request.record);
    if (record.withdrawn) {
      throw new InvalidArgumentError('the record is withdrawn (a tombstone): call Deregister with it, not Register');
    }
    const ttlSeconds = grantedTtlSeconds(context, request.ttlSeconds);
    const { leaseId, revision } = await context.store.register({
      record,
      signed: request.record!,
      ttlMs: ttlSeconds * 1_000,
    });
    context.metrics.registrations.inc({ outcome: outcomeLabel() });
    return { leaseId, ttlSeconds, revision };
  } catch (error) {
    context.metrics.registrations.inc({ outcome: outcomeLabel(error) });
    throw error;
  }
}

function grantedTtlSeconds({ config }: DirectoryContext, asked: number): number {
  if (asked === 0) return config.defaultTtlSeconds;
  if (asked < config.minTtlSeconds || asked > config.maxTtlSeconds) {
    throw new InvalidArgumentError(
      `ttl_seconds ${asked} is outside this directory's bounds ${config.minTtlSeconds}..${config.maxTtlSeconds} (0 asks for the default, ${config.defaultTtlSeconds})`,
    );
  }
  return asked;
}
