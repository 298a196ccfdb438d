import { matches, parseSelector } from './label-selector';

describe('label selectors', () => {
  const labels = { zone: 'eu-1', tier: 'edge' };

  test.each([
    ['', true],
    ['zone=eu-1', true],
    ['zone==eu-1', true],
    ['zone=us-1', false],
    ['zone!=us-1', true],
    ['missing!=x', true],
    ['zone', true],
    ['!zone', false],
    ['!missing', true],
    ['zone=eu-1,tier=edge', true],
    ['zone=eu-1, tier=core', false],
  ])('%j against {zone: eu-1, tier: edge} is %s', (text, expected) => {
    expect(matches(parseSelector(text), labels)).toBe(expected);
  });

  const bad = ['=x', 'zone=a b', '!zone=x', 'zo ne', 'zone=,', ',', 'a=b=c'];
  test.each(bad.map((text) => [text.length > 40 ? `${text.slice(0, 10)}… (${text.length} chars)` : text, text]))(
    'rejects %j with InvalidArgumentError',
    (_shown, text) => {
      expect(() => parseSelector(text)).toThrow(
        expect.objectContaining({ name: expect.stringMatching(/InvalidArgumentError/) }),
      );
    },
  );

  test('refuses a selector past its length bound with ResourceExhaustedError', () => {
    expect(() => parseSelector('x'.repeat(2_000))).toThrow(
      expect.objectContaining({ name: 'ResourceExhaustedError', message: expect.stringMatching(/at most 1024/) }),
    );
  });
});
