import { InvalidArgumentError } from '../../common/errors';
import { outcomeLabel } from '../../common/grpc-status';
import { RenewRequest, RenewResponse } from '../../gen/grapevine/v1/directory';
import { DirectoryContext } from '../context';

/** Lease ids are "<network>.<random>"; anything longer than this is not one of ours. */
const MAX_LEASE_ID_LENGTH = 128;

export async function renew(context: DirectoryContext, request: RenewRequest): Promise<RenewResponse> {
  try {
    if (request.leaseId === '' || request.leaseId.length > MAX_LEASE_ID_LENGTH) {
      throw new InvalidArgumentError(`lease_id must be the 1-${MAX_LEASE_ID_LENGTH} character id Register returned`);
    }
    const { ttlMs } = await context.store.renew(request.leaseId);
    context.metrics.renewals.inc({ outcome: outcomeLabel() });
    return { ttlSeconds: Math.round(ttlMs / 1_000) };
  } catch (error) {
    context.metrics.renewals.inc({ outcome: outcomeLabel(error) });
    throw error;
  }
}
