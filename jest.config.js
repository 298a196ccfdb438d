/**
 * Unit tests sit beside the code; cross-service suites live in test/. Benchmarks are not tests,
 * but the helpers they are built on (test/bench/support/) have tests of their own.
 * ts-jest only transpiles (tsconfig.jest.json): `make test` type-checks the whole tree with tsc first.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/services', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/test/bench/(?!support/)'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.jest.json', diagnostics: { ignoreCodes: [151002] } }],
  },
  testTimeout: 30_000,
  // Two workers even on two cores: the slowest suites (faults, namespaces, end to end) mostly wait
  // on timers and other processes, so a second worker halves the wall time at little CPU cost.
  maxWorkers: 2,
  // No forceExit: a suite that leaves a socket, a timer or a child behind shows up (a worker "failed
  // to exit gracefully", or a single-file run that does not end) instead of being cut off unseen.
  setupFiles: ['<rootDir>/test/support/plaintext-env.ts'],
};
