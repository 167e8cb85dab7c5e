const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' })

/** Code points East Asian Width calls Wide or Fullwidth (the blocks terminals draw two columns wide). */
const WIDE: Array<[number, number]> = [
  [0x1100, 0x115f], [0x2e80, 0x303e], [0x3041, 0x33ff], [0x3400, 0x4dbf], [0x4e00, 0x9fff],
  [0xa000, 0xa4cf], [0xa960, 0xa97f], [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f], [0xff00, 0xff60], [0xffe0, 0xffe6], [0x1f300, 0x1f64f], [0x1f900, 0x1f9ff],
  [0x20000, 0x2fffd], [0x30000, 0x3fffd]
]

function wide (cp: number): boolean {
  for (const [from, to] of WIDE) if (cp >= from && cp <= to) return true
  return false
}

/**
 * How many terminal columns `text` takes: a grapheme cluster (an emoji with
 * its modifiers and joiners, a letter with its accents) is one character, two
 * columns when it is an emoji shown as such or East Asian wide, none when it
 * is only control or zero-width characters.
 */
export function displayWidth (text: string): number {
  if (/^[\x20-\x7e]*$/.test(text)) return text.length
  let width = 0
  for (const { segment } of segmenter.segment(text)) {
    const cp = segment.codePointAt(0) as number
    if (/^[\p{Cc}\p{Cf}\p{Mn}\p{Me}]+$/u.test(segment)) continue
    if (/\p{Emoji_Presentation}|\p{Extended_Pictographic}\uFE0F/u.test(segment) || wide(cp)) width += 2
    else width += 1
  }
  return width
}
