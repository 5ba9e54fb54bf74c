const js = require('@eslint/js');
const tseslint = require('typescript-eslint');

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
    // House style H4: the engine boundary owns the HTTP client and the retry library; production code never reaches the simulator.
    files: ['src/**/*.ts'],
    ignores: ['src/adapters/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'axios', message: 'HTTP clients live in src/adapters/ (house style H4).' },
            { name: 'p-retry', message: 'Retries live in src/adapters/ (house style H4).' },
          ],
          patterns: [
            { group: ['**/sim/**', '../sim', '../../sim'], message: 'Production code never imports the simulator.' },
          ],
        },
      ],
    },
  },
  {
    files: ['src/adapters/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'express', message: 'The adapter layer is framework-free (house style H4).' }],
          patterns: [{ group: ['**/sim/**'], message: 'Production code never imports the simulator.' }],
        },
      ],
    },
  },
);
