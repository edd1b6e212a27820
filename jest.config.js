/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // The package by its name, as an app imports it (the README's blocks, run by testing-entry.spec).
    '^nest-resource-server$': '<rootDir>/src/index.ts',
    '^nest-resource-server/(testing|opentelemetry|terminus)$': '<rootDir>/src/$1/index.ts',
  },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
  setupFiles: ['<rootDir>/test/support/quiet-nest-logger.ts'],
  // Many tests start processes and servers (the CLI, oidc-provider, redis-server): on a loaded 2-core machine 5 s is
  // not enough for a correct answer. A time limit, not a wait: a passing test takes what it takes.
  testTimeout: 30_000,
};
