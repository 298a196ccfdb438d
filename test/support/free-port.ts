/** Free loopback ports for servers that tests start. */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Ports handed out start here: clear of the well-known and registered ports most services use. */
const LOWEST = 20_000;
const TRIES = 50;

/**
 * The first port of the kernel's ephemeral range: the source ports of outgoing connections and
 * the ports of servers bound to 0 come from there.
 */
function ephemeralStart(): number {
  try {
    const [start] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const port = Number(start);
    return Number.isInteger(port) && port > LOWEST + 1_000 ? port : 32_768;
  } catch {
    return 32_768;
  }
}

const below = ephemeralStart();

/**
 * A port on 127.0.0.1 that nobody listens on, for a server the caller starts a moment later. It
 * comes from below the kernel's ephemeral range: a port from inside it (what binding to 0 gives)
 * was seen taken in that moment, with tests running in parallel, by a connection's source port or
 * another test's server. Below it only another test's pick can collide, which is far rarer; the
 * caller's bind fails loudly if it happens.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < TRIES; i++) {
    const port = LOWEST + Math.floor(Math.random() * (below - LOWEST));
    if (await isFree(port)) return port;
  }
  throw new Error(`no free port found in ${TRIES} tries between ${LOWEST} and ${below}`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
