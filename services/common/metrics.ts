/**
 * Prometheus metrics: one registry per process, prom-client's default Node metrics, and the
 * `/metrics` HTTP endpoint. Metric names follow grapevine_<subsystem>_<what>_<unit>.
 */
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';

export { Registry };

/**
 * A process's registry. `labels` go on every series it exposes: a host or an introducer serves
 * one network and labels all its series with it, so dashboards can select a network.
 */
export function createRegistry(labels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  return registry;
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `/metrics` (text exposition format) and nothing else. */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
      return;
    }
    registry.metrics().then(
      (body) => response.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
