import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The membership core does no I/O and owns no clock or randomness: the same code must run under
 * the simulator and under a real transport. The simulator may load the charting packages for its
 * report, and nothing else from outside.
 */
const root = __dirname;
const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? files(join(dir, e.name))
      : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')
        ? [join(dir, e.name)]
        : [],
  );

describe('services/membership', () => {
  const sources = files(root);

  it.each(sources.map((f) => [f.slice(root.length + 1), f]))('%s imports no I/O and reads no clock', (_name, file) => {
    const text = readFileSync(file, 'utf8');
    const imports = [...text.matchAll(/(?:from\s+|import\()\s*'([^']+)'/g)].map((m) => m[1]);
    const allowed = file.endsWith(join('sim', 'report.ts')) ? ['zod', 'vega', 'vega-lite'] : ['zod'];
    for (const spec of imports) {
      if (spec.startsWith('.')) {
        expect(spec).not.toMatch(/\.\.\/\.\.\//);
        continue;
      }
      expect(allowed).toContain(spec);
    }
    const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    for (const banned of [
      'Date.now',
      'new Date',
      'Math.random',
      'setTimeout',
      'setInterval',
      'setImmediate',
      'performance.now',
      'process.',
    ]) {
      expect(code).not.toContain(banned);
    }
  });
});
