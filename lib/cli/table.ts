export type Align = 'left' | 'right'

/** Rows under a header, columns padded to their widest cell and two spaces apart. */
export function formatTable (header: string[], align: Align[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)))
  const line = (cells: string[]): string => cells
    .map((cell, c) => align[c] === 'right' ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))
    .join('  ')
    .trimEnd()
  return [header, ...rows].map(line).join('\n') + '\n'
}
