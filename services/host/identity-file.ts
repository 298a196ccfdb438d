/**
 * The host's identity from its key file: read when present, made and written (mode 0600) at
 * first start when not, so a StatefulSet pod keeps its peer id across restarts. No key file
 * means a new identity each start (development and benchmarks).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { generateIdentity, identityFromPem, identityToPem, type Identity } from '../common/identity';

export async function loadOrCreateIdentity(path: string): Promise<{ identity: Identity; created: boolean }> {
  if (path === '') return { identity: generateIdentity(), created: true };
  let pem: string | undefined;
  try {
    pem = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`cannot read key file ${path}: ${(error as Error).message}`);
    }
  }
  if (pem !== undefined) {
    try {
      return { identity: identityFromPem(pem), created: false };
    } catch (error) {
      throw new Error(`key file ${path} is not an Ed25519 PEM private key: ${(error as Error).message}`);
    }
  }
  const identity = generateIdentity();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // 'wx': two hosts started on one volume must not overwrite each other's key.
  await writeFile(path, identityToPem(identity), { mode: 0o600, flag: 'wx' });
  return { identity, created: true };
}
