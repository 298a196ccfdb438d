/**
 * Transport security for every gRPC server and client: TLS by default, mutual TLS where
 * configured, and plaintext only when explicitly chosen. Certificates come from PEM files that
 * are read again every TLS_RELOAD_INTERVAL_MS, so a renewed certificate (cert-manager, a
 * rotated Secret) is used by new connections without a restart.
 */
import { ChannelCredentials, ServerCredentials, experimental } from '@grpc/grpc-js';
import { z } from 'zod';
import { fields } from './config';

/** How often certificate files are read again while credentials are in use. */
export const TLS_RELOAD_INTERVAL_MS = 10_000;

/** The TLS settings every role (and every terminal command) takes. */
export const tlsFields = {
  plaintext: fields
    .bool()
    .default(false)
    .describe('serve and dial without TLS: for development only (grapevine dev sets it); false needs the TLS files'),
  tlsCertFile: z
    .string()
    .default('')
    .describe(
      'PEM certificate this process presents (as a server, and as a client under mutual TLS); reloaded when it changes',
    ),
  tlsKeyFile: z.string().default('').describe('PEM private key of tlsCertFile; reloaded when it changes'),
  tlsCaFile: z
    .string()
    .default('')
    .describe("PEM CA bundle that the other side's certificate must chain to; empty: the system's roots"),
  tlsClientAuth: fields
    .bool()
    .default(false)
    .describe('mutual TLS: refuse callers without a certificate that chains to tlsCaFile'),
};

export type TlsSettings = {
  readonly plaintext: boolean;
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  readonly tlsCaFile: string;
  readonly tlsClientAuth: boolean;
};

/**
 * Contradictions are refused, never resolved: a server needs a certificate unless plaintext is
 * chosen; plaintext with TLS files set is a mistake either way; mutual TLS needs the CA.
 */
export function checkTlsFields(config: TlsSettings, context: z.RefinementCtx, role: 'server' | 'client'): void {
  const problem = (path: keyof TlsSettings, message: string) =>
    context.addIssue({ code: 'custom', path: [path], message });
  if (config.plaintext) {
    for (const key of ['tlsCertFile', 'tlsKeyFile', 'tlsCaFile'] as const) {
      if (config[key] !== '')
        problem(key, `${key} is set but plaintext is true: choose TLS (plaintext false) or plaintext, not both`);
    }
    if (config.tlsClientAuth) problem('tlsClientAuth', 'tlsClientAuth needs TLS: plaintext must be false');
    return;
  }
  if ((config.tlsCertFile === '') !== (config.tlsKeyFile === '')) {
    problem(
      config.tlsCertFile === '' ? 'tlsCertFile' : 'tlsKeyFile',
      'tlsCertFile and tlsKeyFile go together: set both or neither',
    );
  }
  if (role === 'server' && config.tlsCertFile === '') {
    problem(
      'tlsCertFile',
      'TLS needs a certificate: set tlsCertFile and tlsKeyFile (PEM files), or plaintext=true (--plaintext) for development only',
    );
  }
  if (config.tlsClientAuth && config.tlsCaFile === '') {
    problem('tlsCaFile', 'tlsClientAuth (mutual TLS) needs tlsCaFile: the CA client certificates must chain to');
  }
}

/** The server side: the certificate (reloaded), and client certificates checked under mutual TLS. */
export function serverCredentials(tls: TlsSettings, reloadIntervalMs = TLS_RELOAD_INTERVAL_MS): ServerCredentials {
  if (tls.plaintext) return ServerCredentials.createInsecure();
  const identity = new experimental.FileWatcherCertificateProvider({
    certificateFile: tls.tlsCertFile,
    privateKeyFile: tls.tlsKeyFile,
    refreshIntervalMs: reloadIntervalMs,
  });
  const ca =
    tls.tlsCaFile === ''
      ? null
      : new experimental.FileWatcherCertificateProvider({
          caCertificateFile: tls.tlsCaFile,
          refreshIntervalMs: reloadIntervalMs,
        });
  // grpc-js takes the identity provider first, then the CA (its declaration names them the other way).
  return experimental.createCertificateProviderServerCredentials(identity, ca, tls.tlsClientAuth);
}

/**
 * The client side: the server's certificate must chain to tlsCaFile (or, without one, the
 * system's roots) and name the host dialled. With a CA and tlsCertFile set, this process presents
 * its own certificate, for servers that ask for mutual TLS.
 */
export function channelCredentials(tls: TlsSettings, reloadIntervalMs = TLS_RELOAD_INTERVAL_MS): ChannelCredentials {
  if (tls.plaintext) return ChannelCredentials.createInsecure();
  if (tls.tlsCaFile === '') return ChannelCredentials.createSsl();
  const ca = new experimental.FileWatcherCertificateProvider({
    caCertificateFile: tls.tlsCaFile,
    refreshIntervalMs: reloadIntervalMs,
  });
  const identity =
    tls.tlsCertFile === ''
      ? null
      : new experimental.FileWatcherCertificateProvider({
          certificateFile: tls.tlsCertFile,
          privateKeyFile: tls.tlsKeyFile,
          refreshIntervalMs: reloadIntervalMs,
        });
  return experimental.createCertificateProviderChannelCredentials(ca, identity);
}

/**
 * What a typed client uses when it is given no credentials: plaintext when GRAPEVINE_PLAINTEXT is
 * true (the variable every grapevine role and terminal command reads too), else TLS checked
 * against the system's roots.
 */
export function defaultChannelCredentials(env: NodeJS.ProcessEnv = process.env): ChannelCredentials {
  const plaintext = env.GRAPEVINE_PLAINTEXT;
  return plaintext === 'true' || plaintext === '1'
    ? ChannelCredentials.createInsecure()
    : ChannelCredentials.createSsl();
}

/** Settings for plaintext: development, and tests that do not test TLS. */
export const PLAINTEXT: TlsSettings = Object.freeze({
  plaintext: true,
  tlsCertFile: '',
  tlsKeyFile: '',
  tlsCaFile: '',
  tlsClientAuth: false,
});
