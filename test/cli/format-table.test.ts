import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTable } from '../../lambdas/cli/format-table';

describe('formatTable', () => {
  const cases: readonly [string, readonly string[], readonly (readonly string[])[], string][] = [
    [
      'pads every column but the last to its widest cell',
      ['A', 'BB', 'C'],
      [
        ['xxx', 'y', 'z'],
        ['1', '2', '345'],
      ],
      'A    BB  C\nxxx  y   z\n1    2   345',
    ],
    ['prints only the header for no rows', ['NAME', 'VALUE'], [], 'NAME  VALUE'],
    [
      'leaves no trailing blanks when the last cells are empty',
      ['A', 'B', 'C'],
      [['long', '', '']],
      'A     B  C\nlong',
    ],
    ['treats missing cells as empty', ['A', 'B'], [['x']], 'A  B\nx'],
  ];
  for (const [name, headers, rows, expected] of cases) {
    it(name, () => {
      // Act
      const table = formatTable(headers, rows);
      // Assess
      assert.equal(table, expected);
    });
  }
});
