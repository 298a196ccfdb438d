/** Introducers for tests: in-process ones on free loopback ports, metrics off, the local profile. */
import { silentLogger } from '../../services/common/logging';
import { Registry } from '../../services/common/metrics';
import type { Identity } from '../../services/common/identity';
import { introducerConfig } from '../../services/introducer/config';
import { startIntroducer, type RunningIntroducer } from '../../services/introducer/server';

type IntroducerOverrides = Parameters<typeof introducerConfig>[0];

export const TEST_INTRODUCER_TOKEN = 'test-introducer-token';

/** Starts an introducer and waits until it has read the directory's list. */
export async function startTestIntroducer(
  directory: string,
  overrides: IntroducerOverrides = {},
  identity?: Identity,
  registry = new Registry(),
): Promise<RunningIntroducer> {
  const introducer = await startIntroducer(
    introducerConfig({
      grpcPort: 0,
      metrics: false,
      plaintext: true,
      profile: 'local',
      logLevel: 'silent',
      directory,
      introducerToken: TEST_INTRODUCER_TOKEN,
      shutdownGraceMs: 1_000,
      ...overrides,
    }),
    { log: silentLogger(), registry, identity },
  );
  await introducer.directoryListed;
  return introducer;
}
