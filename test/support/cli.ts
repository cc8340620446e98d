// Spawning the built `fileset-ingest` binary as a user would run it (asynchronously: a fixture
// server in this same process must keep answering while the child runs).
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'fileset-ingest.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with only PATH and `env` in its environment (in `cwd`, default this process's). */
export function runCli(args: string[], env: Record<string, string>, input = '', cwd?: string): Promise<CliRun> {
  const cli = spawnCli(args, env, cwd);
  cli.child.stdin.end(input);
  return cli.exited;
}

/** The CLI as a running child (to signal it): its output so far, and its run once it exits. */
export function spawnCli(args: string[], env: Record<string, string>, cwd?: string) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    ...(cwd ? { cwd } : {}),
  });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (output.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output.stderr += d.toString()));
  const exited = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? -1 : -1), ...output }));
  });
  return { child, output, exited };
}

/** stdout's JSON lines. */
export function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
