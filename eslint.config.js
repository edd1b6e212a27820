import tseslint from 'typescript-eslint';

/**
 * The folders of src/, lowest first, and what each may import of ours (docs/architecture.md). A lower folder never
 * imports a higher one: the rule below turns every other import of ours into a lint error.
 */
export const LAYERS = {
  'errors.ts': [],
  'principal.ts': [],
  'logger.ts': [],
  observability: ['errors.ts'],
  config: ['errors.ts', 'principal.ts', 'logger.ts'],
  keys: ['config', 'errors.ts', 'principal.ts', 'logger.ts'],
  cache: ['observability', 'errors.ts', 'principal.ts', 'logger.ts'],
  'authorization-server': ['observability', 'config', 'keys', 'errors.ts', 'principal.ts', 'logger.ts'],
  validation: [
    'observability',
    'authorization-server',
    'cache',
    'config',
    'keys',
    'errors.ts',
    'principal.ts',
    'logger.ts',
  ],
  auth: ['validation', 'config', 'errors.ts', 'principal.ts', 'logger.ts'],
  health: ['authorization-server', 'cache', 'config', 'errors.ts', 'principal.ts', 'logger.ts'],
  terminus: ['health', 'errors.ts', 'principal.ts', 'logger.ts'],
  opentelemetry: ['observability', 'errors.ts'],
  cli: ['config', 'keys', 'testing', 'errors.ts', 'principal.ts', 'logger.ts'],
  testing: ['config', 'errors.ts', 'principal.ts', 'logger.ts'],
};

const ALL = [
  'errors.ts',
  'principal.ts',
  'logger.ts',
  'observability',
  'config',
  'keys',
  'cache',
  'authorization-server',
  'validation',
  'auth',
  'health',
  'terminus',
  'opentelemetry',
  'cli',
  'testing',
];
const ROOT_FILES = [
  'resource-server.module',
  'resource-server.module-definition',
  'resource-server.providers',
  'jwks.controller',
  'resource-metadata.controller',
  'index',
];

/** For one layer, the import paths (relative, from inside the layer) that are not allowed. */
function forbidden(layer, allowed) {
  const isFile = layer.endsWith('.ts');
  const up = isFile ? './' : '../';
  const denied = ALL.filter((other) => other !== layer && !allowed.includes(other));
  return [
    ...denied.map((other) => (other.endsWith('.ts') ? `${up}${other.replace(/\.ts$/, '')}.js` : `${up}${other}/*`)),
    ...ROOT_FILES.map((file) => `${up}${file}.js`),
  ];
}

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'coverage/', 'reports/', 'node_modules/'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  ...Object.entries(LAYERS).map(([layer, allowed]) => ({
    files: [layer.endsWith('.ts') ? `src/${layer}` : `src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: forbidden(layer, allowed),
              message: `src/${layer} may import only ${allowed.length ? allowed.join(', ') : 'nothing of ours'} (docs/architecture.md)`,
            },
          ],
        },
      ],
    },
  })),
);
