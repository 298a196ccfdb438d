import { ServerWritableStream } from '@grpc/grpc-js';
import { ResourceExhaustedError } from '../../common/errors';
import { errorToStatus } from '../../common/grpc-status';
import { WatchRequest, WatchResponse } from '../../gen/grapevine/v1/directory';
import { DirectoryContext } from '../context';
import { requireNetwork } from '../requests';
import { ChangeEvent } from '../store/store';
import { encodeWatchResponse } from '../watch-encoding';

/**
 * Bytes a watcher may leave unread before it is cut off: a stalled client must not make the
 * directory buffer the whole change log. It resumes from the revision named in the status.
 */
const MAX_UNREAD_BYTES = 4 * 1_024 * 1_024;

export async function watch(
  context: DirectoryContext,
  call: ServerWritableStream<WatchRequest, WatchResponse>,
): Promise<void> {
  const network = requireNetwork(call.request.network);
  const fromRevision = call.request.fromRevision ?? (await context.store.revision(network));
  const batchMs = context.config.watchBatchMs;
  const sentPuts = context.metrics.watchEvents.labels('put');
  const sentDeletes = context.metrics.watchEvents.labels('delete');
  const countSent = (events: readonly ChangeEvent[]) => {
    const puts = events.filter((event) => event.type === 'put').length;
    if (puts > 0) sentPuts.inc(puts);
    if (puts < events.length) sentDeletes.inc(events.length - puts);
  };

  let delivered = fromRevision;
  let pending: ChangeEvent[] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  let lastWriteAt = 0;
  let wroteSinceTick = false;
  let ended = false;

  // Writes are pre-encoded bytes (see watch-encoding.ts); the server's codec passes them through.
  const write = (events: readonly ChangeEvent[], revision: number) => {
    call.write(encodeWatchResponse(events, revision) as unknown as WatchResponse);
    lastWriteAt = Date.now();
    wroteSinceTick = true;
  };
  const flush = () => {
    flushTimer = undefined;
    if (ended || pending.length === 0) return;
    const events = pending;
    pending = [];
    write(events, delivered);
    countSent(events);
    if (call.writableLength > MAX_UNREAD_BYTES) {
      end(
        new ResourceExhaustedError(
          `watcher fell ${call.writableLength} bytes behind; watch again from revision ${delivered}`,
        ),
      );
    }
  };
  // At most one message per batchMs: a quiet stream sends an event at once, a busy one in batches,
  // so a thousand watchers of a busy network cost a bounded number of writes per second. Busy
  // streams flush on shared ticks (multiples of batchMs), so level watchers send the same batch
  // and share its encoding.
  const onEvent = (event: ChangeEvent) => {
    if (ended) return;
    delivered = event.revision;
    pending.push(event);
    if (flushTimer === undefined) {
      const now = Date.now();
      const delay = now - lastWriteAt >= batchMs || batchMs === 0 ? 0 : batchMs - (now % batchMs);
      flushTimer = setTimeout(flush, delay);
    }
  };

  const progress = setInterval(() => {
    if (!wroteSinceTick && !ended) write([], delivered);
    wroteSinceTick = false;
  }, context.config.watchProgressMs);

  let release = () => {};
  let closeSubscription = () => {};
  function end(error?: Error) {
    if (ended) return;
    ended = true;
    clearInterval(progress);
    clearTimeout(flushTimer);
    closeSubscription();
    release();
    if (error) call.emit('error', errorToStatus(error, context.log, 'Watch'));
    else call.end();
  }

  release = context.watches.admit(clientOf(call.getPeer()), { end });
  call.on('cancelled', () => end());
  call.on('error', () => end());
  // Tell the watcher where it starts, so it can resume from there even if nothing changes.
  write([], fromRevision);
  try {
    const subscription = await context.store.watch(network, fromRevision, {
      onEvent,
      onError: (error) => {
        flush();
        end(error);
      },
    });
    if (ended) subscription.close();
    else closeSubscription = () => subscription.close();
  } catch (error) {
    end(error as Error);
  }
}

/** "ipv4:1.2.3.4:5678" or "ipv6:[::1]:5678" -> the address without the port. */
function clientOf(peer: string): string {
  return peer
    .replace(/^ipv[46]:/, '')
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '');
}
