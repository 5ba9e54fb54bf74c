/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j)s$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } },
    ],
  },
  // p-retry (and its dependency) are ESM-only; Node 20.19+ can require() them at run time, jest needs them transformed.
  transformIgnorePatterns: ['/node_modules/(?!(p-retry|is-network-error)/)'],
  setupFilesAfterEnv: ['<rootDir>/test/helpers/nock-per-file.ts'],
  maxWorkers: 2,
  testTimeout: 20000,
};
