/**
 * The generated TypeScript is committed; this fails when it no longer matches the contracts, so
 * nobody edits generated code by hand or forgets `make proto`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = join(__dirname, '..', '..');
const buf = join(root, 'node_modules', '.bin', 'buf');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

describe('protobuf contracts', () => {
  test('are lint-clean under buf STANDARD', () => {
    expect(() => execFileSync(buf, ['lint'], { cwd: root, stdio: 'pipe' })).not.toThrow();
  });

  test('generated TypeScript in services/gen is what `make proto` would write', () => {
    const out = mkdtempSync(join(tmpdir(), 'grapevine-gen-'));
    try {
      execFileSync(buf, ['generate', '-o', out], { cwd: root, stdio: 'pipe' });
      const fresh = join(out, 'services', 'gen');
      const committed = join(root, 'services', 'gen');
      expect(filesUnder(committed)).toEqual(filesUnder(fresh));
      for (const file of filesUnder(fresh)) {
        expect({ file, text: readFileSync(join(committed, file), 'utf8') }).toEqual({
          file,
          text: readFileSync(join(fresh, file), 'utf8'),
        });
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
