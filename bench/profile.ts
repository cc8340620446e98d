// `npx tsx bench/profile.ts FILE.cpuprofile [--top N]`: self time of a V8 CPU profile (node --cpu-prof,
// BENCH_CPU_PROF=1 in the Kafka benchmark) summed by module and by function, as Markdown tables.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { fmt, markdownTable } from './lib.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Groups a script URL into what an engineer would look at: our modules, a package, Node's internals. */
export function moduleOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const ours = /\/(dist|src)\/(.+?)\.[jt]s$/.exec(url);
  if (ours) return ours[2]!;
  if (url.startsWith('node:')) return url;
  return url.replace(/^file:\/\//, '');
}

/** Self time in ms per node id, from the samples and their time deltas. */
function selfTimes(profile: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  return self;
}

/**
 * Native functions (a binding such as writev or lstat) and Node's own modules are charged to the
 * nearest caller in our code or a package, so the module table says who asked for the work.
 */
export function summarise(profile: CpuProfile, top: number): string {
  const self = selfTimes(profile);
  const parent = new Map<number, ProfileNode>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node);
  const asker = (node: ProfileNode): ProfileNode | undefined => {
    for (let at: ProfileNode | undefined = node; at; at = parent.get(at.id)) {
      const { url } = at.callFrame;
      if (url && !url.startsWith('node:')) return at;
    }
    return undefined;
  };
  const byModule = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const ms = self.get(node.id) ?? 0;
    if (ms === 0) continue;
    total += ms;
    const { functionName, url, lineNumber } = node.callFrame;
    const caller = (url && !url.startsWith('node:')) || functionName.startsWith('(') ? undefined : asker(node);
    const module = caller ? moduleOf(caller.callFrame.url, '') : moduleOf(url, functionName);
    byModule.set(module, (byModule.get(module) ?? 0) + ms);
    const where = caller
      ? ` ← ${caller.callFrame.functionName || '(anonymous)'} ${module}:${caller.callFrame.lineNumber + 1}`
      : url
        ? ` ${module}:${lineNumber + 1}`
        : '';
    const fn = `${functionName || '(anonymous)'}${where}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + ms);
  }
  const idle = (byModule.get('(idle)') ?? 0) + (byModule.get('(program)') ?? 0);
  const rows = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => [`\`${name}\``, fmt(ms, 0), `${fmt((ms / total) * 100, 1)}%`]);
  return [
    `Sampled ${fmt(total / 1000, 2)} s, of which ${fmt(idle / 1000, 2)} s idle or outside JavaScript ((idle), (program)).`,
    '',
    markdownTable(['module', 'self ms', 'share'], rows(byModule)),
    '',
    markdownTable(['function', 'self ms', 'share'], rows(byFunction)),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { top: { type: 'string', default: '25' } },
    allowPositionals: true,
  });
  if (positionals.length === 0) {
    process.stderr.write('Usage: npx tsx bench/profile.ts FILE.cpuprofile... [--top N]\n');
    process.exitCode = 2;
    return;
  }
  for (const path of positionals) {
    const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile;
    process.stdout.write(`## ${path}\n\n${summarise(profile, Number(values.top))}\n\n`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
