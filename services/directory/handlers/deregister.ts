import { InvalidArgumentError } from '../../common/errors';
import { outcomeLabel } from '../../common/grpc-status';
import { openRecord } from '../../common/records';
import { DeregisterRequest, DeregisterResponse } from '../../gen/grapevine/v1/directory';
import { DirectoryContext } from '../context';

export async function deregister(context: DirectoryContext, request: DeregisterRequest): Promise<DeregisterResponse> {
  try {
    const record = openRecord(request.record);
    if (!record.withdrawn) {
      throw new InvalidArgumentError(
        "Deregister takes the peer's signed record with withdrawn=true and a newer seq (a tombstone), so nobody but the peer can remove it",
      );
    }
    const { revision } = await context.store.deregister(record, request.record!);
    context.metrics.deregistrations.inc({ outcome: outcomeLabel() });
    return { revision };
  } catch (error) {
    context.metrics.deregistrations.inc({ outcome: outcomeLabel(error) });
    throw error;
  }
}
