/**
 * Unit tests sit beside the code; cross-service suites live in test/. Benchmarks are not tests.
 * ts-jest only transpiles (tsconfig.jest.json): `make test` type-checks the whole tree with tsc first.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/services', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/test/bench/'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.jest.json', diagnostics: { ignoreCodes: [151002] } }],
  },
  testTimeout: 30_000,
  setupFiles: ['<rootDir>/test/support/plaintext-env.ts'],
};
