/**
 * A group of hosts in one process for benchmarks that crash hosts: `kill -9` of this process is
 * the crash of every host in it. Each host joins through the given seed (an introducer) and
 * registers with the directory; the process prints one line with their peer ids once all run.
 *
 *   tsx test/bench/support/host-group.ts <count> <seed host:port> <directory host:port>
 */
import { silentLogger } from '../../../services/common/logging';
import { Registry } from '../../../services/common/metrics';
import { hostConfig } from '../../../services/host/config';
import { startHost } from '../../../services/host/server';

async function main(): Promise<void> {
  const [count, seed, directory] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
  const hosts = await Promise.all(
    Array.from({ length: count }, () =>
      startHost(
        hostConfig({
          grpcPort: 0,
          appPort: 0,
          metrics: false,
          profile: 'local',
          plaintext: true,
          logLevel: 'silent',
          seeds: [seed],
          directory,
          directoryTtlSeconds: 30,
        }),
        { log: silentLogger(), registry: new Registry() },
      ),
    ),
  );
  process.stdout.write(`hosts ${JSON.stringify(hosts.map((h) => h.peerId))}\n`);
}

void main();
