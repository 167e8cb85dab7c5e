import t from 'tap'
import { InvalidArgumentError } from 'commander'
import { SplitBytes } from '../../lib/cli/split-bytes'
import { compileFormat, renderer } from '../../lib/cli/render'
import { delimiter, duration, escapes, partitionList } from '../../lib/cli/options'
import { displayWidth } from '../../lib/cli/display-width'
import { OutputCommits } from '../../lib/cli/output-commits'

function split (delim: string, parts: Buffer[]): string[] {
  const s = new SplitBytes(Buffer.from(delim))
  const out: string[] = []
  s.on('data', (b: Buffer) => out.push(b.toString('latin1')))
  for (const p of parts) s.write(p)
  s.end()
  return out
}

t.test('SplitBytes: the same pieces however the input is cut, for delimiters of one and several bytes', async (t) => {
  const cases: Array<[string, string, string[]]> = [
    ['\n', 'a\nbb\n\nccc', ['a', 'bb', '', 'ccc']],
    ['\n', 'a\n', ['a']],
    ['\n', '\n\n', ['', '']],
    ['\n', '', []],
    ['\0', 'x\0y\0', ['x', 'y']],
    ['<->', 'one<->two<-><->three<-', ['one', 'two', '', 'three<-']],
    ['aa', 'aaaXaa', ['', 'aX']]
  ]
  for (const [d, input, expected] of cases) {
    const bytes = Buffer.from(input, 'latin1')
    t.same(split(d, [bytes]), expected, `${JSON.stringify(input)} whole`)
    t.same(split(d, [...bytes].map((b) => Buffer.from([b]))), expected, `${JSON.stringify(input)} byte by byte`)
    for (let cut = 1; cut < bytes.length; cut++) {
      const got = split(d, [bytes.subarray(0, cut), bytes.subarray(cut)])
      if (JSON.stringify(got) !== JSON.stringify(expected)) t.fail(`${JSON.stringify(input)} cut at ${cut}: ${JSON.stringify(got)}`)
    }
  }
})

t.test('escapes, delimiters, durations, partition lists', async (t) => {
  t.same(escapes('a\\nb\\t\\0\\\\\\x00\\xff'), Buffer.from([0x61, 0x0a, 0x62, 0x09, 0, 0x5c, 0, 0xff]))
  t.same(escapes('é'), Buffer.from('é'))
  t.throws(() => escapes('\\'), InvalidArgumentError)
  t.throws(() => escapes('\\x1'), InvalidArgumentError)
  t.throws(() => delimiter(''), InvalidArgumentError)
  t.equal(duration('10'), 10_000)
  t.equal(duration('0.5'), 500)
  t.equal(duration('250ms'), 250)
  t.equal(duration('2s'), 2000)
  t.throws(() => duration('0'), InvalidArgumentError)
  t.throws(() => duration('-1'), InvalidArgumentError)
  t.same(partitionList('2', partitionList('0,1,2', undefined)), [0, 1, 2])
  t.same(partitionList('3', Object.freeze([1]) as number[]), [3], 'a list from the config is replaced')
  t.throws(() => partitionList('255', undefined), InvalidArgumentError)
})

t.test('formats: fields, escapes, percent signs', async (t) => {
  const render = renderer({ log: 'lg', format: compileFormat('%t|%p|%o|%S|%s|%%|\\x41\\n') })
  t.equal(render(3, [{ offset: 7, data: Buffer.from('hé') }]).toString(), 'lg|3|7|3|hé|%|A\n')
  t.equal(renderer({ log: 'lg', delimiter: Buffer.from('--') })(0, [{ offset: 0, data: Buffer.from('a') }, { offset: 1, data: Buffer.from('b') }]).toString(), 'a--b--')
  t.throws(() => compileFormat('%'), { message: /unknown field "%"/ })
  t.same(compileFormat('%T'), ['T'], '%T: the timestamp')
})

t.test('display width: emoji, joined emoji, accents, East Asian wide', async (t) => {
  t.equal(displayWidth('abc'), 3)
  t.equal(displayWidth('🎉'), 2)
  t.equal(displayWidth('👨‍👩‍👧'), 2)
  t.equal(displayWidth('✔️'), 2)
  t.equal(displayWidth('e\u0301'), 1)
  t.equal(displayWidth('日本'), 4)
  t.equal(displayWidth('a\u200bb'), 2)
})

t.test('output commits: per partition, trailing the output by the given bytes', async (t) => {
  const sent: Array<[number, number]> = []
  const commits = new OutputCommits(10, (p, o) => sent.push([p, o]))
  commits.delivered(0, 5, 4)
  commits.delivered(1, 3, 4)
  t.same(sent, [])
  commits.delivered(0, 9, 4)
  t.same(sent, [], 'nothing is committed before 10 more bytes follow it')
  commits.delivered(1, 4, 20)
  t.same(sent, [[0, 9], [1, 3]], 'each partition up to its last batch followed by 10 bytes')
  commits.complete()
  t.same(sent, [[0, 9], [1, 3], [1, 4]], 'the rest at a clean end')
})
