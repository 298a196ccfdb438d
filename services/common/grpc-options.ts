/**
 * gRPC options every server and channel of ours shares.
 *
 * Channelz is off: no role serves the channelz service, yet grpc-js keeps its per-call and
 * per-session accounting (timestamps, counters, closures) for every call when it is on, which is
 * about a tenth of a unary call's CPU and a share of its garbage on a busy directory.
 */
export const COMMON_GRPC_OPTIONS = Object.freeze({ 'grpc.enable_channelz': 0 });
