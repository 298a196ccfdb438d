/**
 * DNS seeds against a real DNS server (dns2) on 127.0.0.1 and a port of its own. Every query goes
 * there: names sit under .test (RFC 6761), and nothing else is contacted.
 */
import { createSocket, Socket } from 'node:dgram';
import dns2 from 'dns2';
import { resolveDnsSeeds } from './dns-seeds';

const { Packet } = dns2;
const NXDOMAIN = 3;

type ZoneRecord =
  | { type: 'A' | 'AAAA'; address: string }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string };

const ZONE: Record<string, ZoneRecord[]> = {
  'seeds.grapevine.test': [
    { type: 'A', address: '10.0.0.1' },
    { type: 'A', address: '10.0.0.2' },
    { type: 'AAAA', address: '2001:db8::1' },
  ],
  'v4.grapevine.test': [{ type: 'A', address: '10.0.0.3' }],
  'v6.grapevine.test': [{ type: 'AAAA', address: '2001:db8::2' }],
  'same.grapevine.test': [{ type: 'A', address: '10.0.0.1' }],
  'empty.grapevine.test': [],
  '_grapevine._tcp.grapevine.test': [
    { type: 'SRV', priority: 20, weight: 5, port: 7002, target: 'backup.grapevine.test' },
    { type: 'SRV', priority: 10, weight: 1, port: 7001, target: 'light.grapevine.test' },
    { type: 'SRV', priority: 10, weight: 9, port: 7000, target: 'heavy.grapevine.test' },
  ],
  '_broken._tcp.grapevine.test': [
    { type: 'SRV', priority: 10, weight: 0, port: 7000, target: 'heavy.grapevine.test' },
    { type: 'SRV', priority: 20, weight: 0, port: 7000, target: 'gone.grapevine.test' },
  ],
  'heavy.grapevine.test': [{ type: 'A', address: '10.0.1.1' }],
  'light.grapevine.test': [{ type: 'A', address: '10.0.1.2' }],
  'backup.grapevine.test': [
    { type: 'A', address: '10.0.1.3' },
    { type: 'AAAA', address: '2001:db8::3' },
  ],
};

let server: dns2.UDPServer;
let resolverAddress: string;

beforeAll(async () => {
  server = dns2.createUDPServer((request, send) => {
    const response = Packet.createResponseFromRequest(request);
    const [question] = request.questions;
    const records = ZONE[question.name.toLowerCase()];
    if (records === undefined) response.header.rcode = NXDOMAIN;
    for (const record of records ?? []) {
      if (Packet.TYPE[record.type] !== question.type) continue;
      const { type: _, ...fields } = record;
      response.answers.push(Packet.createResourceFromQuestion(question, { ttl: 60, ...fields }));
    }
    void send(response);
  });
  await server.listen(0, '127.0.0.1');
  resolverAddress = `127.0.0.1:${server.address().port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function resolve(seeds: string[], timeoutMs = 2_000) {
  return resolveDnsSeeds(seeds, { resolverAddress, defaultPort: 7946, timeoutMs, tries: 1 });
}

/** A UDP socket bound to a free loopback port; the caller answers nothing, or closes it. */
async function boundUdpSocket(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((done, fail) => {
    socket.once('error', fail);
    socket.bind(0, '127.0.0.1', () => done());
  });
  return socket;
}

describe('resolveDnsSeeds', () => {
  test('a name gives its A then AAAA addresses with the default port, IPv6 in brackets', async () => {
    await expect(resolve(['seeds.grapevine.test'])).resolves.toMatchObject({
      addresses: ['10.0.0.1:7946', '10.0.0.2:7946', '[2001:db8::1]:7946'],
      problems: [],
    });
  });

  test('name:port uses that port; a trailing dot is allowed', async () => {
    await expect(resolve(['v4.grapevine.test:9000', 'v6.grapevine.test.'])).resolves.toMatchObject({
      addresses: ['10.0.0.3:9000', '[2001:db8::2]:7946'],
      problems: [],
    });
  });

  test('an SRV name gives its targets A and AAAA with the SRV port, by priority then weight', async () => {
    await expect(resolve(['_grapevine._tcp.grapevine.test'])).resolves.toMatchObject({
      addresses: ['10.0.1.1:7000', '10.0.1.2:7001', '10.0.1.3:7002', '[2001:db8::3]:7002'],
      problems: [],
    });
  });

  test('an SRV target that does not resolve is a problem; the other targets still count', async () => {
    await expect(resolve(['_broken._tcp.grapevine.test'])).resolves.toMatchObject({
      addresses: ['10.0.1.1:7000'],
      problems: ['DNS seed _broken._tcp.grapevine.test: SRV target gone.grapevine.test: ENOTFOUND'],
    });
  });

  test('each address carries the name it was found under: the seed for A/AAAA, the target for SRV', async () => {
    const byName = await resolve(['seeds.grapevine.test', 'v6.grapevine.test.']);
    expect(byName.serverNames).toEqual({
      '10.0.0.1:7946': 'seeds.grapevine.test',
      '10.0.0.2:7946': 'seeds.grapevine.test',
      '[2001:db8::1]:7946': 'seeds.grapevine.test',
      '[2001:db8::2]:7946': 'v6.grapevine.test',
    });
    const bySrv = await resolve(['_grapevine._tcp.grapevine.test']);
    expect(Object.keys(bySrv.serverNames).sort()).toEqual([...bySrv.addresses].sort());
    expect(new Set(Object.values(bySrv.serverNames)).has('_grapevine._tcp.grapevine.test')).toBe(false);
  });

  test('repeats are dropped and seed order is kept', async () => {
    const result = await resolve(['v4.grapevine.test', 'seeds.grapevine.test', 'same.grapevine.test']);
    expect(result.addresses).toEqual(['10.0.0.3:7946', '10.0.0.1:7946', '10.0.0.2:7946', '[2001:db8::1]:7946']);
  });

  test('NXDOMAIN and a name with no addresses are problems naming the seed and the code', async () => {
    await expect(
      resolve(['missing.grapevine.test', 'empty.grapevine.test', '_missing._tcp.grapevine.test', 'v4.grapevine.test']),
    ).resolves.toMatchObject({
      addresses: ['10.0.0.3:7946'],
      problems: [
        'DNS seed missing.grapevine.test: ENOTFOUND',
        'DNS seed empty.grapevine.test: ENODATA',
        'DNS seed _missing._tcp.grapevine.test: ENOTFOUND',
      ],
    });
  });

  test.each([
    ['an IP address', '10.0.0.1:7946', 'is an IP address'],
    ['an SRV name with a port', '_grapevine._tcp.grapevine.test:7946', 'is not an SRV name'],
    ['a malformed name', 'bad name.test', 'is not a DNS name'],
  ])('%s is a problem, not a throw', async (_, seed, text) => {
    const result = await resolve([seed]);
    expect(result.addresses).toEqual([]);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toContain(JSON.stringify(seed));
    expect(result.problems[0]).toContain(text);
  });

  test('a server that never answers gives a timeout problem within the short timeout', async () => {
    const silent = await boundUdpSocket();
    try {
      const started = Date.now();
      const result = await resolveDnsSeeds(['seeds.grapevine.test'], {
        resolverAddress: `127.0.0.1:${silent.address().port}`,
        defaultPort: 7946,
        timeoutMs: 200,
        tries: 1,
      });
      expect(result).toEqual({ addresses: [], serverNames: {}, problems: ['DNS seed seeds.grapevine.test: ETIMEOUT'] });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      silent.close();
    }
  });

  test('a port where nothing listens is a problem', async () => {
    const socket = await boundUdpSocket();
    const port = socket.address().port;
    await new Promise<void>((done) => socket.close(() => done()));
    const result = await resolveDnsSeeds(['seeds.grapevine.test'], {
      resolverAddress: `127.0.0.1:${port}`,
      defaultPort: 7946,
      timeoutMs: 200,
      tries: 1,
    });
    expect(result.addresses).toEqual([]);
    expect(result.problems).toEqual([
      expect.stringMatching(/^DNS seed seeds\.grapevine\.test: (ECONNREFUSED|ETIMEOUT)$/),
    ]);
  });

  test.each([
    ['a resolver given by name', { resolverAddress: 'dns.example.org:53' }],
    ['port 0 as default', { defaultPort: 0 }],
    ['a zero timeout', { timeoutMs: 0 }],
    ['zero tries', { tries: 0 }],
  ])('refuses %s with a RangeError', async (_, override) => {
    await expect(
      resolveDnsSeeds(['seeds.grapevine.test'], { resolverAddress, defaultPort: 7946, timeoutMs: 200, ...override }),
    ).rejects.toThrow(RangeError);
  });
});
