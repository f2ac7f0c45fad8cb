// A tiny plain-text table printer for the CLI's human output: left-aligned columns separated by two
// spaces, the last column never padded (no trailing blanks). Never used for machine output (--json).

/** Renders `rows` under `headers`; each row has one cell per header (missing cells print empty). */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const render = (cells: readonly string[]): string =>
    headers
      .map((_, column) => {
        const cell = cells[column] ?? '';
        return column === headers.length - 1 ? cell : cell.padEnd(widths[column]!);
      })
      .join('  ')
      .trimEnd();
  return [render(headers), ...rows.map(render)].join('\n');
}
