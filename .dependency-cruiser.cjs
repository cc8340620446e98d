// Module structure rules, run by `npm run lint` (depcruise): no import cycles anywhere, and in src/
// every import points down the layers below (a module may import its own layer and those under it).
/** Bottom first. A layer is a folder of src/ or a few top-level modules. */
const LAYERS = [
  ['schemas', '^src/schemas/'],
  ['errors', '^src/(errors|redact)\\.ts$'],
  ['leaves', '^src/(logger|map-limit|retry|mimetype|archiveorg-rules|did-you-mean|heap-growth)\\.ts$'],
  ['config', '^src/config\\.ts$'],
  ['metrics', '^src/(health|metrics)\\.ts$'],
  ['http', '^src/http/'],
  ['db', '^src/db/'],
  ['kafka', '^src/kafka/'],
  ['stores', '^src/stores/'],
  ['capture', '^src/capture/'],
  ['platforms', '^src/platforms/'],
  ['strategies', '^src/strategies/'],
  ['pipeline', '^src/pipeline/'],
  ['workers', '^src/workers/'],
  ['commands', '^src/commands/'],
  ['cli', '^src/cli\\.ts$'],
];

const upward = LAYERS.slice(0, -1).map(([name, path], i) => ({
  name: `no-upward-import-from-${name}`,
  comment: `${name} may import only itself and the layers below it (${
    LAYERS.slice(0, i)
      .map(([n]) => n)
      .join(', ') || 'none'
  })`,
  severity: 'error',
  from: { path },
  to: {
    path: LAYERS.slice(i + 1)
      .map(([, p]) => `(${p})`)
      .join('|'),
  },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-import-cycle',
      comment: 'a cycle of imports (type-only ones included) has no order to read or test it in',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'every-module-has-a-layer',
      comment: 'a new top-level module or folder of src/ needs a place in LAYERS (.dependency-cruiser.cjs)',
      severity: 'error',
      from: { path: '^src/', pathNot: LAYERS.map(([, p]) => `(${p})`).join('|') },
      to: {},
    },
    {
      name: 'kafkajs-only-in-kafka',
      comment: 'src/kafka/ is the one place that talks to kafkajs (consumer.ts consumes, client.ts builds clients)',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/kafka/' },
      to: { path: 'node_modules/kafkajs/' },
    },
    {
      name: 'cli-loads-heavy-commands-lazily',
      comment:
        'src/cli.ts imports the pipeline, the workers and Kafka only with import() in the command that runs them: produce, status, verify and the rest start without the platform helpers, the HTML parser or kafkajs',
      severity: 'error',
      from: { path: '^src/cli\\.ts$' },
      to: {
        path: '^src/(pipeline|platforms|capture|strategies|workers|kafka)/|^src/commands/(ingest|worker-ingest|worker-persist|produce|persist|topics|verify|status)\\.ts$',
        dynamic: false,
        dependencyTypesNot: ['type-only'],
      },
    },
    ...upward,
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|data)/' },
  },
};
