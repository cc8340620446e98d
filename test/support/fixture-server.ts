// A local HTTP server on port 0 serving recorded platform responses and file bodies by path.
import { randomInt } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Route {
  status?: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Stream this file as the body (Content-Length from its size). */
  file?: string;
  /** Full control, for misbehaving servers. */
  handler?: (req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * A file body answered after a random delay of `minMs` to `maxMs`: requests stay in flight for a
 * while, so that the faults a test injects land in the middle of them.
 */
export function slowFile(body: Buffer, minMs: number, maxMs: number): Route {
  return {
    handler: (_req, res) => {
      setTimeout(
        () =>
          res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length }).end(body),
        randomInt(minMs, maxMs),
      );
    },
  };
}

export class FixtureServer {
  readonly routes = new Map<string, Route>();
  readonly requests: string[] = [];

  private constructor(private readonly server: Server) {}

  static async start(routes: Record<string, Route> = {}): Promise<FixtureServer> {
    const server = createServer();
    const fixture = new FixtureServer(server);
    for (const [path, route] of Object.entries(routes)) fixture.routes.set(path, route);
    server.on('request', (req, res) => void fixture.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fixture;
  }

  get origin(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  route(path: string, route: Route): this {
    this.routes.set(path, route);
    return this;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '/';
    this.requests.push(path);
    const route = this.routes.get(path) ?? this.routes.get(decodeURIComponent(path.split('?')[0]!));
    if (!route) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"status": 404, "message": "not found in fixture server"}');
      return;
    }
    if (route.handler) return route.handler(req, res);
    const headers = { ...route.headers };
    if (route.file) {
      const { size } = await stat(route.file);
      res.writeHead(route.status ?? 200, { 'Content-Length': String(size), ...headers });
      if (req.method === 'HEAD') return void res.end();
      createReadStream(route.file).pipe(res);
      return;
    }
    const body = route.body ?? '';
    res.writeHead(route.status ?? 200, { 'Content-Length': String(Buffer.byteLength(body)), ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
