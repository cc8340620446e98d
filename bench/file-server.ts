// The benchmarks' HTTP server, started by lib.ts as its own process so that serving never shares an
// event loop with the process being measured. argv[2]: a JSON file of routes by path (lib.ts Route).
// Prints {"origin": "http://127.0.0.1:<port>"} once listening; GET /__cpu reports its CPU usage.
import { createReadStream, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Route } from './lib.js';

const routes = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Record<string, Route>;

function send(res: ServerResponse, status: number, type: string, body: string, head: boolean): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(head ? undefined : body);
}

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0]!;
  const head = req.method === 'HEAD';
  if (path === '/__cpu') return send(res, 200, 'application/json', JSON.stringify(process.cpuUsage()), head);
  const route = routes[path];
  if (!route) return send(res, 404, 'text/plain', 'not found\n', head);
  if (!route.file) return send(res, 200, route.type, route.body ?? '', head);
  const file = route.file;
  stat(file).then(
    ({ size }) => {
      res.writeHead(200, { 'Content-Type': route.type, 'Content-Length': String(size) });
      if (head) return void res.end();
      const stream = createReadStream(file, { highWaterMark: 1 << 20 });
      stream.on('error', () => res.destroy());
      stream.pipe(res);
    },
    () => send(res, 500, 'text/plain', 'cannot read file\n', head),
  );
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ origin: `http://127.0.0.1:${port}` })}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
