/** Binds the Directory handlers to the generated gRPC service definition. */
import { carriesBearerToken } from '../common/bearer-token';
import { streamHandler, unaryHandler, ServiceBinding } from '../common/grpc-server';
import { DirectoryServiceService } from '../gen/grapevine/v1/directory';
import { DirectoryContext } from './context';
import { deregister } from './handlers/deregister';
import { evictCall } from './handlers/evict';
import { list } from './handlers/list';
import { register } from './handlers/register';
import { registerBatch } from './handlers/register-batch';
import { renew } from './handlers/renew';
import { renewBatch } from './handlers/renew-batch';
import { resolve } from './handlers/resolve';
import { updateRecord } from './handlers/update-record';
import { watch } from './handlers/watch';
import { sourceOf } from './requests';

export const DIRECTORY_SERVICE_NAME = 'grapevine.v1.DirectoryService';

export function directoryService(context: DirectoryContext): ServiceBinding {
  const { log } = context;
  const isIntroducer = carriesBearerToken(context.config.introducerToken);
  return {
    name: DIRECTORY_SERVICE_NAME,
    definition: DirectoryServiceService,
    implementation: {
      register: unaryHandler(log, 'Register', (request, call) =>
        register(context, request, sourceOf(call.getPeer()), isIntroducer(call.metadata)),
      ),
      registerBatch: unaryHandler(log, 'RegisterBatch', (request, call) =>
        registerBatch(context, request, sourceOf(call.getPeer()), isIntroducer(call.metadata)),
      ),
      renew: unaryHandler(log, 'Renew', (request) => renew(context, request)),
      renewBatch: unaryHandler(log, 'RenewBatch', (request) => renewBatch(context, request)),
      deregister: unaryHandler(log, 'Deregister', (request) => deregister(context, request)),
      resolve: unaryHandler(log, 'Resolve', (request) => resolve(context, request)),
      list: unaryHandler(log, 'List', (request) => list(context, request)),
      watch: streamHandler(log, 'Watch', (call) => watch(context, call)),
      updateRecord: unaryHandler(log, 'UpdateRecord', (request) => updateRecord(context, request)),
      evict: evictCall(context),
    },
  };
}
