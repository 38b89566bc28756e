// The architecture, checked: `npm run lint` (part of `npm test`). docs/ARCHITECTURE.md explains each rule.
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** Ink, React and their add-ons: only the interactive UI (src/ui) and its tests load them. */
const INK = { group: ['ink', 'ink-*', 'react', 'react/*', 'react-dom', 'ink/*'], message: 'Ink and React live in src/ui only: the scripted path and the services never load them (docs/ARCHITECTURE.md).' };
/** The UI is loaded on demand (`await import('../ui/…')`), never statically: scripted cctrl and tpm without a terminal stay Ink-free. */
const UI = { group: ['**/ui/*', '**/ui/**'], allowTypeImports: true, message: 'src/ui is loaded with a dynamic import() only, when a terminal is attached (docs/ARCHITECTURE.md).' };
/** Commands call services; services never call commands (only the entry points in src/cli assemble them). */
const COMMANDS = { group: ['**/commands/*', '**/commands/**'], message: 'src/ never imports commands/: commands are assembled by the entry points in src/cli (docs/ARCHITECTURE.md).' };

/** The shell and the entry points are above every service and view. */
const SHELL = { group: ['**/shell/*', '**/cli/*'], message: 'The services and the views sit below src/shell and src/cli and never import them (docs/ARCHITECTURE.md).' };
/** Text views are above the services. */
const FORMAT = { group: ['**/format/*'], message: 'The services know nothing of text: src/format imports them, never the other way (docs/ARCHITECTURE.md).' };

function restrict(files, patterns) {
  return { files, rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns }] } };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'fixtures/**', 'coverage/**'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{ts,tsx,js,mjs}'],
    plugins: { 'import-x': importX },
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', clearImmediate: 'readonly', Buffer: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', structuredClone: 'readonly', queueMicrotask: 'readonly', performance: 'readonly', fetch: 'readonly', Response: 'readonly', Request: 'readonly', Headers: 'readonly', globalThis: 'readonly', NodeJS: 'readonly' },
    },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver': undefined,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })],
    },
    rules: {
      // Runtime and type-level cycles alike: a module graph that is a tree of layers.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    // TypeScript checks names itself; tests may use `any` to reach into a double.
    files: ['**/*.{ts,tsx}'],
    rules: { 'no-undef': 'off' },
  },
  { files: ['test/**'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  // Layers, top to bottom: src/cli (entry points) → commands/ → src/shell, src/ui → src/format → the
  // services (api, manager, connector, diag, ssh, config). An import may only go down.
  restrict(['commands/**/*.ts', 'src/shell/**/*.ts', 'src/cli/**/*.ts'], [INK, UI]),
  restrict(['src/shell/**/*.ts'], [INK, UI, COMMANDS]),
  restrict(['src/ui/**/*.{ts,tsx}'], [COMMANDS]),
  restrict(['src/format/**/*.ts'], [INK, UI, COMMANDS, SHELL]),
  restrict(['src/{api,manager,connector,diag,ssh,config}/**/*.ts', 'src/errors.ts', 'src/failure.ts', 'src/controlChars.ts'], [INK, UI, COMMANDS, SHELL, FORMAT]),
);
