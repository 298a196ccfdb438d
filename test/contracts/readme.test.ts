/** README.md documents every setting: its key, flag and environment variable. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { envName } from '../../services/common/config';
import { directoryConfigSchema } from '../../services/directory/config';
import { hostConfigSchema } from '../../services/host/config';
import { introducerConfigSchema } from '../../services/introducer/config';

const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');

const roles = { directory: directoryConfigSchema, host: hostConfigSchema, introducer: introducerConfigSchema };

describe.each(Object.entries(roles))('README documents every %s setting', (_role, schema) => {
  test.each(Object.keys(schema.shape))('%s', (key) => {
    const flag = `--${key.replace(/[A-Z]/g, (char) => `-${char.toLowerCase()}`)}`;
    const description = (schema.shape as Record<string, { description?: string }>)[key].description!;
    expect(readme).toContain(`| \`${key}\` | \`${flag}\` | \`${envName(key)}\` |`);
    expect(readme).toContain(description);
  });
});

test('README shows the two commands', () => {
  expect(readme).toContain('make run');
  expect(readme).toContain('make test');
});
