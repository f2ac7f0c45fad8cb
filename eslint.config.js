// Lint rules: strict TypeScript, no `any`, type-only imports, no focused tests.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', 'dist/', 'test/fixtures/', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      // esbuild cannot tree-shake the re-exported `z` binding nor the `z.locales` namespace: either puts
      // every zod locale (~280 KB) into each Lambda bundle.
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "ImportDeclaration[source.value=/^zod(\\u002F|$)/] > :matches(ImportSpecifier[imported.name='z'], ImportDefaultSpecifier)",
          message: "use `import * as z from 'zod/mini'` (keeps Lambda bundles small)",
        },
        {
          selector: "MemberExpression[object.name='z'][property.name='locales']",
          message:
            "import the one locale needed (`import { en } from 'zod/locales'`): `z.locales` bundles them all",
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'describe', property: 'only' },
        { object: 'it', property: 'only' },
        { object: 'test', property: 'only' },
      ],
    },
  },
  {
    // The Lambdas use zod's functional API only: the method-chaining one ('zod') costs ~97 KB in each
    // bundle against ~36 KB for the same schemas with 'zod/mini'.
    files: ['lambdas/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['zod', 'zod/v4', 'zod/v3'].map((name) => ({
            name,
            message: "use `import * as z from 'zod/mini'` in lambdas/ (keeps Lambda bundles small)",
          })),
        },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // CommonJS: the bin (bin/image-promoter.cjs says why).
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { process: 'readonly', console: 'readonly', require: 'readonly', __dirname: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
