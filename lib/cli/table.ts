import { displayWidth } from './display-width'

export type Align = 'left' | 'right'

/** Rows under a header, columns padded to their widest cell (in terminal columns) and two spaces apart. */
export function formatTable (header: string[], align: Align[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[c]))))
  const line = (cells: string[]): string => cells
    .map((cell, c) => {
      const pad = ' '.repeat(widths[c] - displayWidth(cell))
      return align[c] === 'right' ? pad + cell : cell + pad
    })
    .join('  ')
    .trimEnd()
  return [header, ...rows].map(line).join('\n') + '\n'
}
