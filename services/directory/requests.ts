/** Checks of request fields shared by several handlers; each throws InvalidArgumentError. */
import { InvalidArgumentError } from '../common/errors';
import { isPeerId } from '../common/identity';
import { dnsLabelProblem } from '../common/labels';

export function requireNetwork(network: string): string {
  const problem = dnsLabelProblem('network', network);
  if (problem) throw new InvalidArgumentError(problem);
  return network;
}

export function requirePeerId(peerId: string): string {
  if (!isPeerId(peerId)) {
    throw new InvalidArgumentError(
      `peer id ${JSON.stringify(peerId.slice(0, 80))} is not a Grapevine peer id ("b" and 52 base32 characters)`,
    );
  }
  return peerId;
}

export function requireName(name: string): string {
  const problem = dnsLabelProblem('name', name);
  if (problem) throw new InvalidArgumentError(problem);
  return name;
}

/** The caller's IP from grpc-js's peer string ("1.2.3.4:5678", "[::1]:5678"): the key of per-source limits. */
export function sourceOf(peer: string): string {
  return peer
    .replace(/^ipv[46]:/, '')
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '');
}
