// Preloaded into a CLI child with `node --import`: when the process exits, writes the npm packages
// it loaded through CommonJS (kafkajs, prom-client, pg and undici load that way) as a JSON array
// to the file named by FILESET_TEST_LOADED_PACKAGES.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

process.on('exit', () => {
  const names = new Set();
  for (const file of Object.keys(require.cache)) {
    const match = /node_modules[/\\]((?:@[^/\\]+[/\\])?[^/\\]+)[/\\]/.exec(file);
    if (match) names.add(match[1].replace('\\', '/'));
  }
  writeFileSync(process.env.FILESET_TEST_LOADED_PACKAGES, JSON.stringify([...names].sort()));
});
