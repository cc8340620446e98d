#!/usr/bin/env node
// Entry shim: runs the compiled CLI (built by `npm run build`, which `npm ci` runs through `prepare`).
import { exitAfter, main } from '../dist/cli.js';

exitAfter(await main(process.argv.slice(2), { tuneHeap: true }));
