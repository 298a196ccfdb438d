import { ResourceExhaustedError } from '../../common/errors';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../../common/limits';
import { ListRequest, ListResponse } from '../../gen/grapevine/v1/directory';
import { DirectoryContext } from '../context';
import { matches, parseSelector } from '../label-selector';
import { decodePageToken, encodePageToken } from '../page-token';
import { requireNetwork } from '../requests';
import { toPeerEntry } from './peer-entry';

/**
 * With a selector, one store read scans this many peers so that a sparse match still fills a page
 * in one atomic read; a short page with a next token is normal, as in Kubernetes.
 */
const SELECTOR_SCAN = 1_000;

export async function list(context: DirectoryContext, request: ListRequest): Promise<ListResponse> {
  const network = requireNetwork(request.network);
  const selector = parseSelector(request.labelSelector);
  if (request.pageSize > MAX_PAGE_SIZE) {
    throw new ResourceExhaustedError(`page_size ${request.pageSize} is over the maximum ${MAX_PAGE_SIZE}`);
  }
  const pageSize = request.pageSize || DEFAULT_PAGE_SIZE;
  const after = request.pageToken ? decodePageToken(request.pageToken, network).after : undefined;

  const scanLimit = selector.length > 0 ? Math.max(pageSize, SELECTOR_SCAN) : pageSize;
  const page = await context.store.list(network, { after, scanLimit });
  const now = context.now();
  const peers = [];
  let last: string | undefined;
  for (const peer of page.peers) {
    last = peer.peerId;
    if (selector.length > 0 && !matches(selector, peer.record.labels)) continue;
    peers.push(toPeerEntry(peer, now));
    if (peers.length === pageSize) break;
  }
  const scannedAll = last === page.peers.at(-1)?.peerId;
  const more = page.nextAfter !== undefined || !scannedAll;
  return {
    peers,
    nextPageToken: more && last ? encodePageToken({ network, after: last }) : '',
    revision: page.revision,
  };
}
