/** README.md documents every setting: its key, flag and environment variable. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { envName } from '../../services/common/config';
import { directoryConfigSchema } from '../../services/directory/config';

const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');

test.each(Object.keys(directoryConfigSchema.shape))('README documents the directory setting %s', (key) => {
  const flag = `--${key.replace(/[A-Z]/g, (char) => `-${char.toLowerCase()}`)}`;
  const description = (directoryConfigSchema.shape as Record<string, { description?: string }>)[key].description!;
  expect(readme).toContain(`| \`${key}\` | \`${flag}\` | \`${envName(key)}\` |`);
  expect(readme).toContain(description);
});

test('README shows the two commands', () => {
  expect(readme).toContain('make run');
  expect(readme).toContain('make test');
});
