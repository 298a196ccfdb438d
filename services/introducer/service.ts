/** Binds the Introducer handlers to the generated gRPC service definition. */
import type { ServerUnaryCall } from '@grpc/grpc-js';
import { UnavailableError } from '../common/errors';
import { unaryHandler, type ServiceBinding } from '../common/grpc-server';
import type { Logger } from '../common/logging';
import { IntroducerServiceService, type JoinRequest, type JoinResponse } from '../gen/grapevine/v1/introducer';
import { hostOf } from '../membership/address-group';
import type { IntroducerContext } from './context';
import { join } from './handlers/join';

export const INTRODUCER_SERVICE_NAME = 'grapevine.v1.IntroducerService';

/**
 * The binding is made before the server binds and the context once the host is up (the
 * introducer's record needs the bound port); joins before that answer UNAVAILABLE.
 */
export function introducerService(log: Logger, context: () => IntroducerContext | undefined): ServiceBinding {
  return {
    name: INTRODUCER_SERVICE_NAME,
    definition: IntroducerServiceService,
    implementation: {
      join: unaryHandler(log, 'Join', (request: JoinRequest, call: ServerUnaryCall<JoinRequest, JoinResponse>) => {
        const c = context();
        if (!c) throw new UnavailableError('the introducer is starting; retry in a moment');
        return join(c, request, sourceOf(call.getPeer()));
      }),
    },
  };
}

/** The caller's IP, the key joins are limited by ("1.2.3.4:5678" and "[::1]:5678" alike). */
export function sourceOf(peer: string): string {
  return hostOf(peer) ?? peer;
}
