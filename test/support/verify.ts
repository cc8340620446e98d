// `fileset-ingest verify` run in process: its exit code and the lines it printed.
import { PassThrough } from 'node:stream';
import { run } from '../../src/commands/verify.js';
import type { Config } from '../../src/config.js';
import { silentLogger } from './context.js';

export async function verifyLines(config: Config, args: string[] = []): Promise<{ code: number; lines: string[] }> {
  const output = new PassThrough();
  let text = '';
  output.on('data', (d: Buffer) => (text += d.toString()));
  const code = await run(config, silentLogger, args, { output });
  return { code, lines: text.trim().split('\n') };
}
