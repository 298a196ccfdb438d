/** RFC 1123 labels: what a network, a name, and one part of a host name may be. */
const RFC1123_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function isDnsLabel(text: string): boolean {
  return RFC1123_LABEL.test(text);
}

/** Explains why `text` is not a DNS label, for an error a person can act on. */
export function dnsLabelProblem(what: string, text: string): string | undefined {
  if (isDnsLabel(text)) return undefined;
  if (text.length === 0) return `${what} is empty`;
  if (text.length > 63) return `${what} is ${text.length} characters; at most 63 are allowed`;
  return `${what} ${JSON.stringify(text)} is not an RFC 1123 label: use a-z, 0-9 and '-', not at either end`;
}
