/**
 * Label selectors in the Kubernetes equality style: comma-separated requirements that must all
 * hold. `k=v` (or `k==v`), `k!=v` (true when the label is absent too), `k` (present), `!k` (absent).
 */
import { InvalidArgumentError, ResourceExhaustedError } from '../common/errors';
import { MAX_SELECTOR_LENGTH } from '../common/limits';

export type Requirement =
  | { readonly op: 'equals' | 'notEquals'; readonly key: string; readonly value: string }
  | { readonly op: 'exists' | 'notExists'; readonly key: string };

export type Selector = readonly Requirement[];

const KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)?$/;

/** Throws InvalidArgumentError that quotes the requirement it could not read (RESOURCE_EXHAUSTED past the length bound). */
export function parseSelector(text: string): Selector {
  if (text.length > MAX_SELECTOR_LENGTH) {
    throw new ResourceExhaustedError(
      `label selector is ${text.length} characters; at most ${MAX_SELECTOR_LENGTH} are allowed`,
    );
  }
  if (text.trim() === '') return [];
  return text.split(',').map((part) => parseRequirement(part.trim()));
}

function parseRequirement(part: string): Requirement {
  const match = /^(!?)([^!=\s]+)\s*(?:(==|=|!=)\s*(.*))?$/.exec(part);
  const bad = () =>
    new InvalidArgumentError(
      `label selector requirement ${JSON.stringify(part)} is not one of key=value, key!=value, key, !key`,
    );
  if (!match) throw bad();
  const [, negated, key, operator, value] = match;
  if (!KEY.test(key)) throw bad();
  if (operator === undefined) return { op: negated ? 'notExists' : 'exists', key };
  if (negated || !VALUE.test(value)) throw bad();
  return { op: operator === '!=' ? 'notEquals' : 'equals', key, value };
}

export function matches(selector: Selector, labels: Readonly<Record<string, string>>): boolean {
  return selector.every((requirement) => {
    const present = Object.prototype.hasOwnProperty.call(labels, requirement.key);
    switch (requirement.op) {
      case 'exists':
        return present;
      case 'notExists':
        return !present;
      case 'equals':
        return present && labels[requirement.key] === requirement.value;
      case 'notEquals':
        return !present || labels[requirement.key] !== requirement.value;
    }
  });
}
