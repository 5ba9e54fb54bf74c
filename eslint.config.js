const js = require('@eslint/js');
const tseslint = require('typescript-eslint');

/**
 * The layers of README.md's layout map, enforced (house style H1, H4): routes → use-cases (channels/, events/,
 * messages/) → adapters/ and store/. Import sources are matched as written (relative paths), so each pattern is a
 * regex over a path segment. `no-restricted-imports` options do not merge across flat-config objects (the last one
 * that matches a file wins), so each layer below lists every restriction that applies to it.
 * test/unit/lint-layers.test.ts lints a wrong import for each restriction and expects the error.
 */
const relativeDir = (names) => `^\\.{1,2}/(?:.*/)?(?:${names.join('|')})(?:/|$)`;
const rootModule = (names) => `^\\.{1,2}/(?:\\.\\./)*(?:${names.join('|')})(?:\\.[cm]?[jt]s)?$`;

const restrict = {
  sim: { regex: relativeDir(['sim']), message: 'Production code never imports the simulator.' },
  wppconnect: {
    regex: relativeDir(['wppconnect']),
    message:
      'Only src/adapters/wppconnect/ and the composition root (src/gateway.ts) know the WPPConnect implementation: depend on src/adapters/engine-adapter.ts (house style H1).',
  },
  axios: { name: 'axios', message: 'HTTP clients live in src/adapters/ (house style H4).' },
  pRetry: { name: 'p-retry', message: 'Retries live in src/adapters/ (house style H4).' },
  express: { name: 'express', message: 'Only routers, middleware and the app know Express (house style H4).' },
  store: {
    regex: relativeDir(['store']),
    message: 'Routers reach stored state through a use-case (channels/, events/, messages/), never src/store/.',
  },
  repository: {
    regex: '^\\.{1,2}/.*-repository(?:\\.[cm]?[jt]s)?$',
    message: 'Routers reach stored state through a use-case, never a *-repository module.',
  },
  adapterValues: {
    regex: relativeDir(['adapters']),
    allowTypeImports: true,
    message: 'Routers and middleware depend on the adapter interfaces as types only (`import type`, house style H1).',
  },
  aboveUseCases: {
    regex: relativeDir(['routes', 'ui', 'middleware']),
    message: 'Use-cases do not depend on the HTTP layer (routes, ui, middleware): it depends on them.',
  },
  aboveAdapters: {
    regex: relativeDir(['channels', 'events', 'messages', 'routes', 'ui', 'middleware', 'metrics', 'openapi']),
    message: 'adapters/ and store/ are the bottom layer: they do not depend on use-cases or the HTTP layer.',
  },
  compositionRoot: {
    regex: rootModule(['app', 'gateway', 'main']),
    message: 'Only the composition root (gateway.ts, main.ts) wires the app; nothing below it imports it.',
  },
};

/** One flat-config object per layer; `ignores` keeps a file in exactly one of them. */
function layer(files, { ignores = [], paths = [], patterns = [] }) {
  return {
    files,
    ignores,
    rules: { 'no-restricted-imports': ['error', { paths, patterns: [restrict.sim, ...patterns] }] },
  };
}

const HTTP = ['src/routes/**/*.ts', 'src/ui/**/*.ts', 'src/middleware/**/*.ts'];
const USE_CASES = ['src/channels/**/*.ts', 'src/events/**/*.ts', 'src/messages/**/*.ts'];
const ADAPTERS = ['src/adapters/**/*.ts'];
const WPPCONNECT = ['src/adapters/wppconnect/**/*.ts'];
const STORE = ['src/store/**/*.ts'];
const COMPOSITION_ROOT = ['src/gateway.ts'];

module.exports = tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        __dirname: 'readonly',
        console: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    // Tests read JSON bodies of any shape.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The operator page's script runs in the browser, served as written (src/ui/browser/tsconfig.json type-checks it).
    files: ['src/ui/browser/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        document: 'readonly',
        location: 'readonly',
        fetch: 'readonly',
        EventSource: 'readonly',
        confirm: 'readonly',
        setInterval: 'readonly',
        HTMLElement: 'readonly',
        HTMLInputElement: 'readonly',
        HTMLButtonElement: 'readonly',
        HTMLImageElement: 'readonly',
        MessageEvent: 'readonly',
        require: 'off',
        module: 'off',
        process: 'off',
        __dirname: 'off',
      },
    },
  },
  // Layers (see `restrict` above).
  layer(HTTP, {
    paths: [restrict.axios, restrict.pRetry],
    patterns: [
      restrict.wppconnect,
      restrict.store,
      restrict.repository,
      restrict.adapterValues,
      restrict.compositionRoot,
    ],
  }),
  layer(USE_CASES, {
    paths: [restrict.axios, restrict.pRetry, restrict.express],
    patterns: [restrict.wppconnect, restrict.aboveUseCases, restrict.compositionRoot],
  }),
  layer(ADAPTERS, {
    ignores: WPPCONNECT,
    paths: [restrict.express],
    patterns: [restrict.wppconnect, restrict.aboveAdapters, restrict.compositionRoot],
  }),
  layer(WPPCONNECT, {
    paths: [restrict.express],
    patterns: [restrict.aboveAdapters, restrict.compositionRoot],
  }),
  layer(STORE, {
    paths: [restrict.axios, restrict.pRetry, restrict.express],
    patterns: [restrict.wppconnect, restrict.aboveAdapters, restrict.compositionRoot],
  }),
  // The composition root constructs the WPPConnect adapter; it is the one file outside the adapter that may name it.
  layer(COMPOSITION_ROOT, { paths: [restrict.axios, restrict.pRetry] }),
  layer(['src/**/*.ts'], {
    ignores: [...HTTP, ...USE_CASES, ...ADAPTERS, ...STORE, ...COMPOSITION_ROOT],
    paths: [restrict.axios, restrict.pRetry],
    patterns: [restrict.wppconnect],
  }),
);
