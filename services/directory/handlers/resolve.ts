import { InvalidArgumentError, NotFoundError } from '../../common/errors';
import { ResolveRequest, ResolveResponse } from '../../gen/grapevine/v1/directory';
import { DirectoryContext } from '../context';
import { requireName, requireNetwork, requirePeerId } from '../requests';
import { toPeerEntry } from './peer-entry';

export async function resolve(context: DirectoryContext, request: ResolveRequest): Promise<ResolveResponse> {
  const network = requireNetwork(request.network);
  const target = request.target;
  if (!target) throw new InvalidArgumentError('set peer_id or name to resolve');
  const peer =
    target.$case === 'peerId'
      ? await context.store.resolveById(network, requirePeerId(target.value))
      : await context.store.resolveByName(network, requireName(target.value));
  if (!peer) {
    const what = target.$case === 'peerId' ? 'peer' : 'name';
    throw new NotFoundError(`no live ${what} ${target.value} in network ${network}`);
  }
  return { peer: toPeerEntry(peer, context.now()) };
}
