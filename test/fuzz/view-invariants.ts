/**
 * What a host's views must satisfy whatever its peers sent: both views within their sizes, apart
 * from each other and from the host itself, every record in them verifying for its peer and the
 * host's network, and no address group (a /24, a /48, a host name) over its share of either view.
 */
import { openRecord, type SignedRecord } from '../../services/common/records';
import { addressGroup, type MembershipNode } from '../../services/membership';

export function viewProblems(node: MembershipNode, network: string): string[] {
  const problems: string[] = [];
  const { activeViewSize, passiveViewSize, maxPeersPerAddressGroup } = node.config;
  const active = node.activeView();
  const passive = node.passiveView();
  if (active.length > activeViewSize) problems.push(`active view holds ${active.length} of at most ${activeViewSize}`);
  if (passive.length > passiveViewSize) {
    problems.push(`passive view holds ${passive.length} of at most ${passiveViewSize}`);
  }
  const self = selfId(node);
  for (const [name, view] of [
    ['active', active],
    ['passive', passive],
  ] as const) {
    const groups = new Map<string, number>();
    for (const peer of view) {
      if (peer === self) problems.push(`the host is in its own ${name} view`);
      const blob = node.recordOf(peer);
      if (!blob) {
        problems.push(`${name} peer ${peer} has no record`);
        continue;
      }
      try {
        const record = openRecord(blob as SignedRecord);
        if (record.peerId !== peer) problems.push(`${name} peer ${peer} holds the record of ${record.peerId}`);
        if (record.network !== network) problems.push(`${name} peer ${peer} is of network ${record.network}`);
        if (record.withdrawn) problems.push(`${name} peer ${peer} holds a withdrawn record`);
        const group = addressGroup(record.addresses[0] ?? '');
        groups.set(group, (groups.get(group) ?? 0) + 1);
      } catch (error) {
        problems.push(`${name} peer ${peer} holds a record that does not open: ${(error as Error).message}`);
      }
    }
    for (const [group, count] of groups) {
      if (count > maxPeersPerAddressGroup) {
        problems.push(`${name} view holds ${count} peers of group ${group}, over ${maxPeersPerAddressGroup}`);
      }
    }
  }
  const both = active.filter((peer) => passive.includes(peer));
  if (both.length > 0) problems.push(`in both views: ${both.join(', ')}`);
  return problems;
}

/** Peers of each address group in the active and the passive view. */
export function groupCounts(node: MembershipNode): { active: Map<string, number>; passive: Map<string, number> } {
  const count = (view: readonly string[]) => {
    const groups = new Map<string, number>();
    for (const peer of view) {
      const blob = node.recordOf(peer);
      const address = blob ? (openRecord(blob as SignedRecord).addresses[0] ?? '') : '';
      const group = addressGroup(address);
      groups.set(group, (groups.get(group) ?? 0) + 1);
    }
    return groups;
  };
  return { active: count(node.activeView()), passive: count(node.passiveView()) };
}

function selfId(node: MembershipNode): string {
  return openRecord(node.record as SignedRecord).peerId;
}
