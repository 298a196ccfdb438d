/**
 * The typed Introducer client: Join, with a deadline, every record of the answer verified and
 * checked to belong to the introducer's network.
 */
import { ChannelCredentials, ChannelOptions, Interceptor, Metadata, ServiceError } from '@grpc/grpc-js';
import { PermissionDeniedError } from '../common/errors';
import { grpcClientMetricsInterceptor } from '../common/grpc-metrics';
import { COMMON_GRPC_OPTIONS } from '../common/grpc-options';
import { MAX_GRPC_MESSAGE_BYTES } from '../common/limits';
import { defaultChannelCredentials } from '../common/tls';
import { Registry } from '../common/metrics';
import { PeerRecord, SignedRecord, openRecord } from '../common/records';
import { IntroducerServiceClient, JoinResponse } from '../gen/grapevine/v1/introducer';

export interface IntroducerClientOptions {
  /** Per-call deadline in ms; a Join includes the introducer's dial-back. */
  readonly deadlineMs?: number;
  /** Defaults to TLS checked against the system's roots (plaintext when GRAPEVINE_PLAINTEXT is true). */
  readonly credentials?: ChannelCredentials;
  /** When given, grpc_client_* metrics are recorded in it. */
  readonly registry?: Registry;
  /** More gRPC channel options (clients with different options get connections of their own). */
  readonly channelOptions?: ChannelOptions;
  /**
   * Decodes and verifies each record of an answer, throwing on a bad one; openRecord by default.
   * A host passes its own record checker: the records it then takes into its views are verified
   * once, not once here and again there.
   */
  readonly openRecord?: (signed: SignedRecord) => PeerRecord;
}

export interface Joined {
  /** The introducer's own record, first of the sample. */
  readonly introducer: { readonly record: PeerRecord; readonly signed: SignedRecord };
  /** The other live peers it named, verified. */
  readonly peers: readonly { readonly record: PeerRecord; readonly signed: SignedRecord }[];
  /** The directory lease the newcomer was registered under; empty when the directory was down. */
  readonly leaseId: string;
  readonly ttlSeconds: number;
  readonly revision: number;
  /** Members told about the newcomer. */
  readonly introduced: number;
}

const DEFAULT_DEADLINE_MS = 5_000;

export class IntroducerClient {
  private readonly client: IntroducerServiceClient;
  private readonly deadlineMs: number;
  private readonly open: (signed: SignedRecord) => PeerRecord;

  constructor(
    readonly address: string,
    options: IntroducerClientOptions = {},
  ) {
    const interceptors: Interceptor[] = options.registry ? [grpcClientMetricsInterceptor(options.registry)] : [];
    this.client = new IntroducerServiceClient(address, options.credentials ?? defaultChannelCredentials(), {
      ...COMMON_GRPC_OPTIONS,
      ...options.channelOptions,
      interceptors,
      'grpc.max_receive_message_length': 4 * MAX_GRPC_MESSAGE_BYTES,
    });
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.open = options.openRecord ?? openRecord;
  }

  close(): void {
    this.client.close();
  }

  /**
   * Joins with the newcomer's signed record; rejects with the gRPC error (UNIMPLEMENTED when the
   * address is a plain host, not an introducer). `sampleSize` 0 asks for the default.
   */
  async join(record: SignedRecord, sampleSize = 0): Promise<Joined> {
    const response = await new Promise<JoinResponse>((resolve, reject) =>
      this.client.join(
        { record, sampleSize },
        new Metadata(),
        { deadline: Date.now() + this.deadlineMs },
        (error: ServiceError | null, value?: JoinResponse) => (error ? reject(error) : resolve(value!)),
      ),
    );
    const opened = response.sample.map((signed) => ({ record: this.open(signed), signed }));
    const network = opened[0]?.record.network;
    opened.forEach(({ record: peer }, i) => {
      if (peer.network !== network) {
        throw new PermissionDeniedError(`sample[${i}] is a peer of network ${peer.network}, not ${network}`);
      }
    });
    const [introducer, ...peers] = opened;
    if (!introducer) throw new PermissionDeniedError('the introducer answered without its own record');
    return {
      introducer,
      peers,
      leaseId: response.leaseId,
      ttlSeconds: response.ttlSeconds,
      revision: response.revision,
      introduced: response.introduced,
    };
  }
}
