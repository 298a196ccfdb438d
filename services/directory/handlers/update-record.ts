import { InvalidArgumentError } from '../../common/errors';
import { outcomeLabel } from '../../common/grpc-status';
import { openRecord } from '../../common/records';
import { UpdateRecordRequest, UpdateRecordResponse } from '../../gen/grapevine/v1/directory';
import { DirectoryContext } from '../context';

/** A newer record of a live peer, from the peer or relayed by anyone: the signature is the peer's. */
export async function updateRecord(
  context: DirectoryContext,
  request: UpdateRecordRequest,
): Promise<UpdateRecordResponse> {
  try {
    const record = openRecord(request.record);
    if (record.withdrawn) {
      throw new InvalidArgumentError(
        'the record is withdrawn (a tombstone): call Deregister with it, not UpdateRecord',
      );
    }
    const { revision } = await context.store.updateRecord(record, request.record!);
    context.metrics.recordUpdates.inc({ outcome: outcomeLabel() });
    return { revision };
  } catch (error) {
    context.metrics.recordUpdates.inc({ outcome: outcomeLabel(error) });
    throw error;
  }
}
