import { generateIdentity } from '../../common/identity';
import { SeedError, parseSeed, parseSeeds } from './static-seeds';

const peerId = generateIdentity().peerId;
const otherPeerId = generateIdentity().peerId;

function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('parseSeed', () => {
  test.each([
    ['127.0.0.1:7946', '127.0.0.1:7946'],
    ['seed-1.example.org:7946', 'seed-1.example.org:7946'],
    ['[::1]:7946', '[::1]:7946'],
    ['[2001:db8::17]:1', '[2001:db8::17]:1'],
    ['  10.0.0.1:65535 ', '10.0.0.1:65535'],
  ])('reads %j as the address %j with no peer id', (text, address) => {
    expect(parseSeed(text)).toEqual({ address });
  });

  test.each(['127.0.0.1:7946', 'seed.example.org:7946', '[::1]:7946'])(
    'reads "<peer id>@%s" as that address and peer id',
    (address) => {
      expect(parseSeed(`${peerId}@${address}`)).toEqual({ address, peerId });
    },
  );

  test.each([
    ['an empty string', ''],
    ['spaces only', '   '],
    ['a host with no port', 'seed.example.org'],
    ['port 0', '127.0.0.1:0'],
    ['a port past 65535', '127.0.0.1:65536'],
    ['an IPv6 address without brackets', '::1:7946'],
    ['a bracketed IPv4 address', '[127.0.0.1]:7946'],
    ['a URL', 'http://seed.example.org:7946'],
    ['a host name with an underscore', 'seed_1.example.org:7946'],
    ['an empty peer id', '@127.0.0.1:7946'],
    ['a short peer id', 'babc@127.0.0.1:7946'],
    ['an upper-case peer id', `${peerId.toUpperCase()}@127.0.0.1:7946`],
    ['a peer id without the "b" prefix', `c${peerId.slice(1)}@127.0.0.1:7946`],
    ['two @ signs', `${peerId}@${peerId}@127.0.0.1:7946`],
    ['a peer id with no address', `${peerId}@`],
  ])('refuses %s with a SeedError that quotes the value and lists the accepted forms', (_, text) => {
    const error = thrown(() => parseSeed(text));
    expect(error).toBeInstanceOf(SeedError);
    expect(error.name).toBe('SeedError');
    expect(error.message).toContain(text.trim() === '' ? 'seed is empty' : JSON.stringify(text));
    expect(error.message).toContain('host:port, [IPv6]:port or <peer id>@host:port');
  });
});

describe('parseSeeds', () => {
  test('keeps the order and drops exact repeats', () => {
    expect(parseSeeds(['b.example.org:1', `${peerId}@a.example.org:1`, 'b.example.org:1', 'a.example.org:1'])).toEqual([
      { address: 'b.example.org:1' },
      { address: 'a.example.org:1', peerId },
      { address: 'a.example.org:1' },
    ]);
  });

  test('an empty list is no seeds', () => {
    expect(parseSeeds([])).toEqual([]);
  });

  test('reports every bad seed in one SeedError', () => {
    const error = thrown(() => parseSeeds(['ok.example.org:1', 'nope', '127.0.0.1:99999']));
    expect(error.name).toBe('SeedError');
    expect(error.message).toContain('"nope"');
    expect(error.message).toContain('"127.0.0.1:99999"');
    expect(error.message.split('\n')).toHaveLength(2);
  });

  test('refuses two different peer ids for one address', () => {
    const error = thrown(() => parseSeeds([`${peerId}@10.0.0.1:7946`, `${otherPeerId}@10.0.0.1:7946`]));
    expect(error.name).toBe('SeedError');
    expect(error.message).toContain(peerId);
    expect(error.message).toContain(otherPeerId);
  });
});
