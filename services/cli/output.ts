/** Terminal output: a plain aligned table for people, JSON lines for programs. */
export type OutputFormat = 'table' | 'json';

export function parseOutputFormat(text: string): OutputFormat {
  if (text === 'table' || text === 'json') return text;
  throw new Error(`--output must be table or json, got ${JSON.stringify(text)}`);
}

export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
