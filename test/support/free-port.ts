/** Free loopback ports for servers that tests start. */
import { createServer } from 'node:net';

/**
 * Asks the kernel for a port on 127.0.0.1 that nobody listens on, then lets it go. Another process
 * could take it before the caller binds it; on a test machine that race is rare enough, and the
 * caller's bind fails loudly when it happens.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`expected a TCP address, got ${String(address)}`));
        return;
      }
      server.close((error) => (error ? reject(error) : resolve(address.port)));
    });
  });
}
