import { Metadata, ServerUnaryCall, sendUnaryData, status } from '@grpc/grpc-js';
import { InvalidArgumentError } from '../../common/errors';
import { unaryHandler } from '../../common/grpc-server';
import { errorToStatus, outcomeLabel } from '../../common/grpc-status';
import { EvictRequest, EvictResponse } from '../../gen/grapevine/v1/directory';
import { DirectoryContext } from '../context';
import { UnauthenticatedError, introducerTokenCheck } from '../introducer-token';
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

/**
 * The Evict call: the introducer token is checked first, before the request is looked at. A
 * missing token is answered UNAUTHENTICATED here, since the shared error-to-status map
 * (common/grpc-status.ts) has no domain error for that code; every other answer goes through it.
 */
export function evictCall(context: DirectoryContext) {
  const check = introducerTokenCheck(context.config.introducerToken);
  const answer = unaryHandler(context.log, 'Evict', (request: EvictRequest) => evict(context, request));
  return (call: ServerUnaryCall<EvictRequest, EvictResponse>, callback: sendUnaryData<EvictResponse>): void => {
    const refusal = check(call.metadata);
    if (!refusal) {
      answer(call, callback);
      return;
    }
    const unauthenticated = refusal instanceof UnauthenticatedError;
    context.metrics.evictions.inc({ outcome: unauthenticated ? 'unauthenticated' : outcomeLabel(refusal) });
    callback(
      unauthenticated
        ? { code: status.UNAUTHENTICATED, details: refusal.message, metadata: new Metadata() }
        : errorToStatus(refusal, context.log, 'Evict'),
    );
  };
}
