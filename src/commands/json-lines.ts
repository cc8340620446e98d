// JSON-lines input shared by `requests`, `persist` and `produce`: the file a command names (or
// stdin), read line by line, blank lines dropped, each line numbered and parsed once.
import { createReadStream } from 'node:fs';
import { access, constants, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { describeError, InputError } from '../errors.js';

/** The file a command's argument names; stdin when there is none or it is "-". */
export function inputOf(path: string | undefined, stdin: NodeJS.ReadableStream = process.stdin): NodeJS.ReadableStream {
  return path && path !== '-' ? createReadStream(path) : stdin;
}

/** Fails with an InputError (one line for the user) unless `path` (when given, not "-") is a readable file. */
export async function checkInput(path: string | undefined): Promise<void> {
  if (!path || path === '-') return;
  try {
    await access(path, constants.R_OK);
    if ((await stat(path)).isDirectory()) throw new InputError(`${path} is a directory, not a file`);
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : describeError(err);
    throw new InputError(`cannot read ${path}: ${why}`);
  }
}

export type JsonLine =
  { number: number; text: string; value: unknown } | { number: number; text: string; notJson: string };

/** Every non-blank line, numbered from 1, with its JSON value or why it is not JSON. An abort ends the reading. */
export async function* jsonLines(input: NodeJS.ReadableStream, signal?: AbortSignal): AsyncGenerator<JsonLine> {
  let number = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity, ...(signal ? { signal } : {}) })) {
    number += 1;
    if (!text.trim()) continue;
    try {
      yield { number, text, value: JSON.parse(text) as unknown };
    } catch (err) {
      yield { number, text, notJson: `not JSON (${describeError(err)})` };
    }
  }
}
