import { InvalidArgumentError } from '../../common/errors';
import { unaryHandler } from '../../common/grpc-server';
import { outcomeLabel } from '../../common/grpc-status';
import { EvictRequest, EvictResponse } from '../../gen/grapevine/v1/directory';
import { DirectoryContext } from '../context';
import { introducerTokenCheck } from '../introducer-token';
import { requireNetwork, requirePeerId } from '../requests';

/** Removes a peer an introducer found dead, while the directory holds the seq found dead. */
export async function evict(context: DirectoryContext, request: EvictRequest): Promise<EvictResponse> {
  try {
    const network = requireNetwork(request.network);
    const peerId = requirePeerId(request.peerId);
    if (!Number.isSafeInteger(request.seq) || request.seq < 1) {
      throw new InvalidArgumentError(`seq must be the seq of the record found dead (from 1), got ${request.seq}`);
    }
    const { revision } = await context.store.evict(network, peerId, request.seq);
    context.metrics.evictions.inc({ outcome: outcomeLabel() });
    return { revision };
  } catch (error) {
    context.metrics.evictions.inc({ outcome: outcomeLabel(error) });
    throw error;
  }
}

/** The Evict call: the introducer token is checked first, before the request is looked at. */
export function evictCall(context: DirectoryContext) {
  const check = introducerTokenCheck(context.config.introducerToken);
  return unaryHandler(context.log, 'Evict', async (request: EvictRequest, call) => {
    const refusal = check(call.metadata);
    if (refusal) {
      context.metrics.evictions.inc({ outcome: outcomeLabel(refusal) });
      throw refusal;
    }
    return evict(context, request);
  });
}
