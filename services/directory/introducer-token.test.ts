import { Metadata } from '@grpc/grpc-js';
import { carriesBearerToken } from '../common/bearer-token';
import { introducerTokenCheck } from './introducer-token';

function metadataWith(...values: string[]): Metadata {
  const metadata = new Metadata();
  for (const value of values) metadata.add('authorization', value);
  return metadata;
}

describe('introducer token check', () => {
  const check = introducerTokenCheck('s3cret-token');
  const carries = carriesBearerToken('s3cret-token');

  it.each([
    ['the token', ['Bearer s3cret-token'], undefined],
    ['the token with a lowercase scheme', ['bearer s3cret-token'], undefined],
    ['no authorization', [], 'UnauthenticatedError'],
    ['another scheme', ['Basic czNjcmV0'], 'UnauthenticatedError'],
    ['a bearer without a token', ['Bearer '], 'UnauthenticatedError'],
    ['two authorization values', ['Bearer s3cret-token', 'Bearer s3cret-token'], 'UnauthenticatedError'],
    ['a wrong token', ['Bearer s3cret-tokeN'], 'PermissionDeniedError'],
    ['a prefix of the token', ['Bearer s3cret'], 'PermissionDeniedError'],
    ['a longer token', ['Bearer s3cret-token-and-more'], 'PermissionDeniedError'],
  ])('%s: %s', (_, values, expected) => {
    expect(check(metadataWith(...values))?.name).toBe(expected);
    // The yes-or-no form agrees with the check on every input.
    expect(carries(metadataWith(...values))).toBe(expected === undefined);
  });

  it('refuses everyone, naming the setting, when no token is configured', () => {
    const off = introducerTokenCheck('');
    for (const values of [[], ['Bearer '], ['Bearer anything']]) {
      const error = off(metadataWith(...values));
      expect(error?.name).toBe('PermissionDeniedError');
      expect(error?.message).toContain('introducerToken');
      expect(carriesBearerToken('')(metadataWith(...values))).toBe(false);
    }
  });
});
