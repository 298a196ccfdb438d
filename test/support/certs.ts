/**
 * Certificates for TLS tests, made by the openssl command line in a temp dir: a CA, and leaf
 * certificates it signs for 127.0.0.1 and localhost (server and client use). Nothing is
 * committed; every test makes its own.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  readonly dir: string;
  /** PEM of the CA certificate. */
  readonly caFile: string;
  /** Issues a leaf certificate; files are `<name>.crt` and `<name>.key` in the CA's dir. */
  issue(name: string, options?: { sans?: readonly string[]; days?: number }): { certFile: string; keyFile: string };
  remove(): void;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeTestCa(name = 'grapevine-test-ca'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'grapevine-tls-'));
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    ],
    dir,
  );
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    issue(leaf, options = {}) {
      const sans = options.sans ?? ['IP:127.0.0.1', 'DNS:localhost'];
      writeFileSync(
        join(dir, `${leaf}.ext`),
        `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n`,
      );
      openssl(
        [
          'req',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-subj',
          `/CN=${leaf}`,
          '-keyout',
          `${leaf}.key`,
          '-out',
          `${leaf}.csr`,
        ],
        dir,
      );
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${leaf}.csr`,
          '-CA',
          'ca.crt',
          '-CAkey',
          'ca.key',
          '-CAcreateserial',
          '-days',
          String(options.days ?? 2),
          '-extfile',
          `${leaf}.ext`,
          '-out',
          `${leaf}.crt`,
        ],
        dir,
      );
      return { certFile: join(dir, `${leaf}.crt`), keyFile: join(dir, `${leaf}.key`) };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
