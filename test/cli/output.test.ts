import * as fs from 'node:fs'
import * as path from 'node:path'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import t from 'tap'
import { ROG, rog, RogProcess, serverAndClient } from './rog-process'

const setup = serverAndClient

/** `rog args` with stdout as bytes. */
async function rogBytes (port: number, args: string[], input?: Buffer): Promise<{ code: number | null, stdout: Buffer, stderr: string }> {
  const child = spawn(process.execPath, [ROG, ...args], { env: { ...process.env, ROG_CONFIG: '', ROG_ADDRESS: `127.0.0.1:${port}` } })
  const out: Buffer[] = []
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => out.push(c))
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  child.stdin.end(input)
  const [code] = await once(child, 'close') as [number | null]
  return { code, stdout: Buffer.concat(out), stderr }
}

t.test('--format and --json print partition, offset, size; JSON marks UTF-8 or base64 and escapes delimiters', async (t) => {
  const { port, client } = await setup(t)
  await client.createLog('out', 2)
  await client.publishBatch('out', 0, ['plain', 'two\nlines'])
  await client.publishBatch('out', 1, [Buffer.from([0xff, 0xfe, 0x00])])
  const formatted = await rog(port, ['read', 'out', '-e', '-p', '0', '--format', '%t %p:%o %S [%s]%%\\n'])
  t.equal(formatted.stdout, 'out 0:0 5 [plain]%\nout 0:1 9 [two\nlines]%\n')
  t.equal((await rog(port, ['read', 'out', '-e', '-p', '0', '--format', '%o\\t'])).stdout, '0\t1\t', 'no newline unless the format says so')
  const json = await rog(port, ['read', 'out', '-e', '-p', '0', '-p', '1', '--json'])
  const objects = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  // The stored timestamps, as the server sends them with a detailed batch fetch.
  const stored = await client.fetchBatch({ log: 'out', partition: 0, group: 'x', offset: 0, detailed: true })
  const stamps = stored.messages.map((m) => m.timestamp)
  t.ok(stamps.every((ts) => typeof ts === 'number' && ts > Date.now() - 600_000 && ts <= Date.now()), 'messages carry their append time')
  t.same(objects.filter((o) => o.partition === 0).map((o) => o.timestamp), stamps, '--json prints the stored timestamps')
  t.equal((await rog(port, ['read', 'out', '-e', '-p', '0', '--format', '%o %T\\n'])).stdout, stamps.map((ts, i) => `${i} ${String(ts)}\n`).join(''), '%T prints them, in ms since the epoch')
  for (const o of objects) delete o.timestamp
  t.same(objects.sort((a, b) => Number(a.partition) - Number(b.partition) || Number(a.offset) - Number(b.offset)), [
    { log: 'out', partition: 0, offset: 0, message: 'plain', encoding: 'utf8' },
    { log: 'out', partition: 0, offset: 1, message: 'two\nlines', encoding: 'utf8' },
    { log: 'out', partition: 1, offset: 0, message: '//4A', encoding: 'base64' }
  ])
  t.equal(json.stdout.split('\n').length, 4, 'a newline inside a message is escaped: one line per message')
  const grouped = await rog(port, ['fetch', 'out', '-g', 'g', '-e', '-p', '0', '--format', '%p/%o %s\\n'])
  t.equal(grouped.stdout, '0/0 plain\n0/1 two\nlines\n', '--format works with a group too')
})

t.test('binary data with a NUL delimiter, --binary and --file go in and come out byte for byte', async (t) => {
  const { port, client } = await setup(t)
  await client.createLog('bin', 1)
  const messages = [Buffer.from([0xff, 0xfe, 0x0a, 0x0d]), Buffer.alloc(0), Buffer.from('text\r\n'), Buffer.from([0x80])]
  const input = Buffer.concat(messages.flatMap((m) => [m, Buffer.from([0])]))
  const published = await rogBytes(port, ['publish', 'bin', '-p', '0', '-D', '\\0'], input)
  t.equal(published.code, 0, published.stderr)
  t.match(published.stderr, /^published 4 messages/)
  const stored = (await client.fetchBatch({ log: 'bin', group: 'g', offset: 0, maxMessages: 100 })).messages.map((m) => m.data)
  t.same(stored, messages, 'split on NUL, nothing decoded')
  const read = await rogBytes(port, ['read', 'bin', '-e', '-D', '\\0'])
  t.same(read.stdout, input, 'read back with -D \\0: the same bytes')

  const lines = Buffer.from([0xff, 0xfe, 0x0a, 0x61, 0x0d, 0x0a, 0x62])
  t.equal((await rogBytes(port, ['publish', 'bin', '--binary', '-'], lines)).code, 0)
  const binary = (await client.fetchBatch({ log: 'bin', group: 'g', offset: 4, maxMessages: 100 })).messages.map((m) => m.data)
  t.same(binary, [Buffer.from([0xff, 0xfe]), Buffer.from('a\r'), Buffer.from('b')], '--binary: newline bytes split, the CR and invalid UTF-8 kept')
  t.equal((await rogBytes(port, ['publish', 'bin', '-D', 'XY'], Buffer.from('aXYbX'))).code, 0)
  const multi = (await client.fetchBatch({ log: 'bin', group: 'g', offset: 7, maxMessages: 100 })).messages.map((m) => m.data.toString())
  t.same(multi, ['a', 'bX'], 'a delimiter of several bytes')

  const file = path.join(t.testdir(), 'blob')
  const blob = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) % 256))
  fs.writeFileSync(file, blob)
  t.equal((await rog(port, ['publish', 'bin', '--file', file])).stdout, 'partition 0 offset 9\n', '--file: one message')
  t.same((await client.fetchBatch({ log: 'bin', group: 'g', offset: 9 })).messages.map((m) => m.data), [blob])
  t.match((await rog(port, ['publish', 'bin', '--file', path.join(t.testdir(), 'none')])).stderr, /^rog: cannot read .*none: ENOENT/)
})

t.test('ping, --version, completion', async (t) => {
  const { port } = await setup(t)
  const { version } = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
  t.same(await rog(port, ['--version']), { code: 0, signal: null, stdout: `${version}\n`, stderr: '' })
  const ping = await rog(port, ['ping', '-c', '3'])
  t.equal(ping.code, 0)
  t.match(ping.stdout, new RegExp(`^(127\\.0\\.0\\.1:${port}: rog ${version.replaceAll('.', '\\.')}: time=[\\d.]+ ms\\n){3}3 round trips: min/avg/max = [\\d.]+/[\\d.]+/[\\d.]+ ms\\n$`))

  const bash = (await rog(undefined, ['completion', 'bash'])).stdout
  const complete = (words: string[]): string[] => {
    const script = `${bash}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _rog; printf '%s\\n' "\${COMPREPLY[@]}"`
    return spawnSync('bash', ['-c', script], { encoding: 'utf8' }).stdout.split('\n').filter((w) => w !== '')
  }
  t.same(complete(['rog', 'pu']), ['publish'])
  t.same(complete(['rog', 'r']).sort(), ['read', 'reassign', 'reset-offsets'])
  t.ok(complete(['rog', '-a', 'x:1', 'read', 'log', '--f']).includes('--format'), 'options of the command, after a global option with a value')
  t.same(complete(['rog', 'fetch', '--fo']), ['--follow', '--format'])
  t.same(complete(['rog', '--v']), ['--version'], 'each word once')
  const zsh = (await rog(undefined, ['completion', 'zsh'])).stdout
  t.match(zsh, /^#compdef rog\n[^]*bashcompinit[^]*complete -o default -F _rog rog\n$/)
  t.match((await rog(undefined, ['completion', 'fish'])).stderr, /value 'fish' is invalid for argument 'shell'/)
})

t.test('a config file holds long options: the address list, the timeout, a command\'s format', async (t) => {
  const { port, client } = await setup(t)
  await client.createLog('cfg', 1)
  await client.publishBatch('cfg', 0, ['a', 'b'])
  const dir = t.testdir({
    'config.json': JSON.stringify({ address: ['127.0.0.1:1', `127.0.0.1:${port}`], timeout: 5, read: { format: '%o=%s\\n', 'exit-at-end': true } }),
    'order.json': JSON.stringify({ read: { format: '%o=%s\\n', 'exit-at-end': true }, format: '%s!\\n', address: `127.0.0.1:${port}` }),
    'clash.json': JSON.stringify({ read: { json: true, format: '%s\\n', 'exit-at-end': true }, address: `127.0.0.1:${port}` }),
    'over.json': JSON.stringify({ format: '%s!\\n', read: { json: true, 'exit-at-end': true }, address: `127.0.0.1:${port}` }),
    'bad.json': '{ nope',
    'unknown.json': JSON.stringify({ colour: 'red' }),
    'bad-value.json': JSON.stringify({ timeout: 'never' }),
    xdg: { rog: { 'config.json': JSON.stringify({ address: `127.0.0.1:${port}` }) } }
  })
  const env = (file: string): NodeJS.ProcessEnv => ({ ROG_CONFIG: path.join(dir, file) })
  const run = async (args: string[], environment: NodeJS.ProcessEnv): Promise<{ code: number | null, stdout: string, stderr: string }> => {
    const p = new RogProcess(args, { env: environment, stdio: ['ignore', 'pipe', 'pipe'] })
    return await p.done
  }
  t.same(await run(['read', 'cfg'], env('config.json')), { code: 0, signal: null, stdout: '0=a\n1=b\n', stderr: '' }, 'the second address of the list; read\'s own options')
  t.equal((await run(['read', 'cfg', '--format', '%s\\n'], env('config.json'))).stdout, 'a\nb\n', 'the command line wins')
  t.same((await run(['read', 'cfg', '--json'], env('config.json'))).stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l).message), ['a', 'b'], 'also over an option of the config that --json conflicts with')
  t.same(await run(['read', 'cfg', '-D', ','], env('config.json')), { code: 0, signal: null, stdout: 'a,b,', stderr: '' }, 'and -D')
  t.match((await run(['read', 'cfg', '--json', '--format', '%s'], env('config.json'))).stderr, /cannot be used with/, 'two on the command line still conflict')
  t.equal((await run(['read', 'cfg'], env('order.json'))).stdout, '0=a\n1=b\n', 'a command\'s own section wins over a top-level key written after it')
  t.same((await run(['read', 'cfg'], env('over.json'))).stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l).message), ['a', 'b'], 'and over a top-level key its option conflicts with')
  t.match((await run(['read', 'cfg'], env('clash.json'))).stderr, /^rog: config file .*clash\.json: --json and --format cannot be used together \(for rog read\)\n$/, 'two that conflict in one section are an error')
  t.match((await run(['logs', '-a', '127.0.0.1:1'], env('config.json'))).stderr, /Cannot connect to 127\.0\.0\.1:1:/, 'over the config\'s address list too')
  t.match((await run(['logs'], { ...env('config.json'), ROG_ADDRESS: '127.0.0.1:1' })).stderr, /Cannot connect to 127\.0\.0\.1:1:/, 'and so does ROG_ADDRESS')
  t.equal((await run(['logs'], { ROG_CONFIG: undefined, XDG_CONFIG_HOME: path.join(dir, 'xdg') })).stdout, 'LOG  PARTITIONS\ncfg           1\n', '$XDG_CONFIG_HOME/rog/config.json when ROG_CONFIG is not set')
  t.match((await run(['logs'], env('bad.json'))).stderr, /^rog: config file .*bad\.json: /)
  t.match((await run(['logs'], env('unknown.json'))).stderr, /^rog: config file .*unknown\.json: no command has an option --colour\n$/)
  t.match((await run(['logs'], env('bad-value.json'))).stderr, /^rog: config file .*bad-value\.json: --timeout: expected seconds/)
  t.match((await run(['logs'], env('missing.json'))).stderr, /^rog: config file .*missing\.json: ENOENT/)
})

t.test('rog server --data-dir on a file or where no directory can be made: a clear error at once', async (t) => {
  const file = path.join(t.testdir({ 'a-file': 'x' }), 'a-file')
  for (const [dir, why] of [[file, `${file} is not a directory`], [path.join(file, 'below'), `${file} is not a directory`], ['/proc/nope', 'a directory cannot be made there (/proc/nope)']]) {
    const r = spawnSync(process.execPath, [ROG, 'server', '--port', '0', '--no-http', '--data-dir', dir], { encoding: 'utf8', timeout: 60_000 })
    t.same([r.status, r.stdout, r.stderr], [1, '', `rog server: cannot use ${dir} as the data directory: ${why}\n`], dir)
  }
})
