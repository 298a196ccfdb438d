import { addressGroup, hostOf, ipv6Hextets } from './address-group';

describe('addressGroup', () => {
  it.each([
    ['10.1.2.3:7946', 'v4:10.1.2'],
    ['10.1.2.200:1', 'v4:10.1.2'],
    ['10.1.3.3:7946', 'v4:10.1.3'],
    ['[2001:db8:aa:1::1]:7946', 'v6:2001:db8:aa'],
    ['[2001:db8:aa:ffff:1:2:3:4]:1', 'v6:2001:db8:aa'],
    ['[2001:db8::1]:1', 'v6:2001:db8:0'],
    ['[::1]:1', 'v6:0:0:0'],
    ['[::ffff:192.0.2.7]:1', 'v4:192.0.2'],
    ['peer-1.example.org:7946', 'name:peer-1.example.org'],
    ['PEER-1.Example.org:7946', 'name:peer-1.example.org'],
    ['no-port', 'bad:no-port'],
    ['[2001:db8::1:1', 'bad:[2001:db8::1:1'],
  ])('%s is in group %s', (address, group) => {
    expect(addressGroup(address)).toBe(group);
  });

  it('treats a dotted name that is not an address as a host name', () => {
    expect(addressGroup('300.1.2.3:1')).toBe('name:300.1.2.3');
  });
});

describe('hostOf', () => {
  it.each([
    ['1.2.3.4:5', '1.2.3.4'],
    ['[::1]:5', '::1'],
    ['a:b:c', undefined],
    [':5', undefined],
  ])('%s has host %s', (address, host) => {
    expect(hostOf(address)).toBe(host);
  });
});

describe('ipv6Hextets', () => {
  it.each([
    ['1:2:3:4:5:6:7:8', [1, 2, 3, 4, 5, 6, 7, 8]],
    ['::', [0, 0, 0, 0, 0, 0, 0, 0]],
    ['1::', [1, 0, 0, 0, 0, 0, 0, 0]],
    ['::2', [0, 0, 0, 0, 0, 0, 0, 2]],
    ['64:ff9b::192.0.2.1', [0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0201]],
  ])('parses %s', (text, groups) => {
    expect(ipv6Hextets(text)).toEqual(groups);
  });

  it.each(['1:2:3', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0'])('refuses %s', (text) => {
    expect(ipv6Hextets(text)).toBeUndefined();
  });
});
