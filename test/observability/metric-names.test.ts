/** The naming checker finds what it is meant to find (the real system is checked in prometheus-e2e). */
import { namingProblems, parseExposition } from './metric-names';

const family = (type: string, name: string, lines: string[] = [`${name} 1`]) =>
  [`# HELP ${name} Something.`, `# TYPE ${name} ${type}`, ...lines].join('\n');

describe('namingProblems', () => {
  test('accepts well-named counters, gauges and histograms', () => {
    const text = [
      family('counter', 'grapevine_host_probes_total'),
      family('gauge', 'grapevine_directory_watchers'),
      family('counter', 'grapevine_host_sent_bytes_total', ['grapevine_host_sent_bytes_total{type="ping"} 3']),
      family('histogram', 'grpc_server_handling_seconds', [
        'grpc_server_handling_seconds_bucket{le="0.1",grpc_method="Ping"} 1',
        'grpc_server_handling_seconds_bucket{le="+Inf",grpc_method="Ping"} 1',
        'grpc_server_handling_seconds_sum{grpc_method="Ping"} 0.01',
        'grpc_server_handling_seconds_count{grpc_method="Ping"} 1',
      ]),
      family('gauge', 'nodejs_active_handles_total'),
    ].join('\n');
    expect(namingProblems(parseExposition(text))).toEqual([]);
  });

  test.each([
    ['a counter without _total', family('counter', 'grapevine_host_probes'), /counter without the _total suffix/],
    ['a gauge with _total', family('gauge', 'grapevine_host_peers_total'), /gauge with the _total suffix/],
    ['milliseconds', family('gauge', 'grapevine_host_rtt_ms'), /unit not in base form/],
    ['a percentage', family('gauge', 'grapevine_introducer_share_percent'), /unit not in base form/],
    ['an unknown subsystem', family('counter', 'grapevine_gossip_sent_total'), /subsystem "gossip"/],
    ['camelCase', family('counter', 'grapevine_host_probeFailures_total'), /not snake_case/],
    ['a unit in the middle', family('counter', 'grapevine_host_bytes_sent_total'), /_bytes is not the last part/],
    [
      'a histogram without a unit',
      family('histogram', 'grapevine_directory_batch', ['grapevine_directory_batch_count 1']),
      /does not end in its unit/,
    ],
    ['no HELP', '# TYPE grapevine_host_x_total counter\ngrapevine_host_x_total 1', /no HELP text/],
    [
      'a peer id as a label value',
      family('counter', 'grapevine_host_pings_total', [`grapevine_host_pings_total{peer="b${'a'.repeat(52)}"} 1`]),
      /carries a peer id/,
    ],
    [
      'an address as a label value',
      family('counter', 'grapevine_host_pings_total', ['grapevine_host_pings_total{to="10.1.2.3:7601"} 1']),
      /carries an address/,
    ],
    [
      'a host:port as a label value',
      family('counter', 'grapevine_host_pings_total', ['grapevine_host_pings_total{to="node-7.example:7601"} 1']),
      /carries an address/,
    ],
    [
      'the instance label',
      family('gauge', 'grapevine_host_isolated', ['grapevine_host_isolated{instance="a"} 1']),
      /clashes with the target label/,
    ],
    [
      'a label with unbounded values',
      family(
        'counter',
        'grapevine_host_pings_total',
        Array.from({ length: 65 }, (_, i) => `grapevine_host_pings_total{message="m${i}"} 1`),
      ),
      /has 65 values/,
    ],
  ])('reports %s', (_what, text, problem) => {
    const problems = namingProblems(parseExposition(text));
    expect(problems.map((p) => p.problem)).toEqual(expect.arrayContaining([expect.stringMatching(problem)]));
  });
});
