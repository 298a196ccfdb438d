/**
 * Every bound a request is held to, in one place. A request past a size bound answers
 * RESOURCE_EXHAUSTED (or INVALID_ARGUMENT for a malformed value) naming the bound.
 */

/** Largest serialized PeerRecord, in bytes. Ample for 8 addresses and 32 labels. */
export const MAX_RECORD_BYTES = 4_096;
/** Addresses in one record. */
export const MAX_ADDRESSES = 8;
/** Characters in one "host:port" address. */
export const MAX_ADDRESS_LENGTH = 261;
/** Labels in one record (Consul-style tags). */
export const MAX_LABELS = 32;
/** Characters in a label key, and in a label value (the Kubernetes label bounds). */
export const MAX_LABEL_KEY_LENGTH = 63;
export const MAX_LABEL_VALUE_LENGTH = 63;
/** Largest gRPC message any server accepts, in bytes. */
export const MAX_GRPC_MESSAGE_BYTES = 64 * 1_024;
/** Entries in one RegisterBatch call (its bytes are bounded by MAX_GRPC_MESSAGE_BYTES too). */
export const MAX_REGISTER_BATCH = 256;
/** Entries in one RenewBatch call. */
export const MAX_RENEW_BATCH = 256;
/** Characters in a List label selector. */
export const MAX_SELECTOR_LENGTH = 1_024;
/** List page size: the default, and the most a caller may ask for. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1_000;
/** Concurrent Watch streams one directory process serves, and one client address may hold. */
export const MAX_WATCHERS = 10_000;
export const MAX_WATCHERS_PER_CLIENT = 1_000;
