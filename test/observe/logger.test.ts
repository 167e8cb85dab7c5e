import t from 'tap'
import { RogLogger } from '../../lib/observe/logger'

function capture (format: 'json' | 'text', level: 'debug' | 'info' | 'warn' | 'error' = 'info'): { logger: RogLogger, lines: string[] } {
  const lines: string[] = []
  return { logger: new RogLogger({ format, level, destination: { write: (s: string) => lines.push(s) } }), lines }
}

t.test('json: one object per line with time, level as a word, message and fields', async (t) => {
  const { logger, lines } = capture('json')
  logger.info('connection opened', { conn: 7, remote: '127.0.0.1:5000' })
  logger.line('/data/ev: log ev created with 2 partitions')
  logger.debug('not written at info')
  t.equal(lines.length, 2)
  const first = JSON.parse(lines[0]) as Record<string, unknown>
  t.match(first, { level: 'info', msg: 'connection opened', conn: 7, remote: '127.0.0.1:5000' })
  t.ok(!Number.isNaN(Date.parse(String(first.time))), 'an ISO time')
  t.match(JSON.parse(lines[1]), { level: 'info', msg: '/data/ev: log ev created with 2 partitions' })
})

t.test('text: the message and key=value fields, warnings and errors marked', async (t) => {
  const { logger, lines } = capture('text', 'debug')
  logger.info('connection closed', { conn: 3, remote: '127.0.0.1:1', bytesIn: 10 })
  logger.warn('disk nearly full', { path: '/var/lib/rog data' })
  logger.error('boom')
  logger.debug('details')
  logger.line('a plain line')
  t.same(lines, [
    'connection closed conn=3 remote=127.0.0.1:1 bytesIn=10\n',
    'warning: disk nearly full path="/var/lib/rog data"\n',
    'error: boom\n',
    'details\n',
    'a plain line\n'
  ])
})

t.test('levels: below the level nothing is written', async (t) => {
  const { logger, lines } = capture('text', 'warn')
  logger.info('no')
  logger.line('no either')
  logger.warn('yes')
  t.same(lines, ['warning: yes\n'])
  t.notOk(logger.enabled('info'))
  t.ok(logger.enabled('error'))
})
