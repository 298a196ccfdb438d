import { ServerWritableStream } from '@grpc/grpc-js';
import { onCallGone } from '../../common/grpc-server';
import { errorToStatus } from '../../common/grpc-status';
import { WatchRequest, WatchResponse } from '../../gen/grapevine/v1/directory';
import { DirectoryContext } from '../context';
import { requireNetwork, sourceOf } from '../requests';
import { WatchStream } from '../watch-fanout';
import { watchCallWriter } from '../watch-transport';

export async function watch(
  context: DirectoryContext,
  call: ServerWritableStream<WatchRequest, WatchResponse>,
): Promise<void> {
  const network = requireNetwork(call.request.network);
  const fromRevision = call.request.fromRevision ?? (await context.store.revision(network));

  let ended = false;
  let stream: WatchStream | undefined;
  let progress: NodeJS.Timeout | undefined;
  let lifetime: NodeJS.Timeout | undefined;
  let release = () => {};
  function end(error?: Error) {
    if (ended) return;
    ended = true;
    clearInterval(progress);
    clearTimeout(lifetime);
    stream?.close();
    release();
    if (error) call.emit('error', errorToStatus(error, context.log, 'Watch'));
    else call.end();
  }

  release = context.watches.admit(sourceOf(call.getPeer()), { end });
  onCallGone(call, () => end());
  if (ended) return;
  const lifetimeMs = streamLifetimeMs(context.config.watchMaxLifetimeMs, Math.random);
  if (lifetimeMs > 0) lifetime = setTimeout(() => end(), lifetimeMs);
  // The stream tells the watcher where it starts at once, so it can resume from there even if
  // nothing changes, then sends every change after it (see watch-fanout.ts).
  const opening = context.watchFanout.open(network, fromRevision, {
    write: watchCallWriter(call, context.metrics.watchMessageSent),
    fail: (error) => end(error),
  });
  progress = setInterval(() => stream?.progressTick(), context.config.watchProgressMs);
  stream = await opening;
  if (ended) stream?.close();
}

/**
 * How long one stream may live: between half the limit and all of it, so the streams a replica's
 * restart opened together do not all come back at once. 0: no limit.
 */
export function streamLifetimeMs(maxLifetimeMs: number, random: () => number): number {
  return maxLifetimeMs > 0 ? Math.ceil(maxLifetimeMs * (1 - random() / 2)) : 0;
}
