// fixtures/protocol-vectors.json is the source of truth for the golden frames.
// This script checks it and rewrites what is derived from it, so a change
// shows up as a diff: `incomplete` (leading bytes of every request frame) and
// the bytes of every response (from its message or error text).
// Run from anywhere: `npm run fixtures`.
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const file = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'protocol-vectors.json')
const vectors = JSON.parse(readFileSync(file, 'utf8'))

function fail (why) {
  console.error(`${file}: ${why}`)
  process.exit(1)
}

const names = new Set()
for (const section of ['requests', 'pipelined', 'responses']) {
  const list = section === 'pipelined' ? [vectors.pipelined] : vectors[section]
  if (!Array.isArray(list)) fail(`"${section}" must be a list`)
  for (const v of list) {
    if (typeof v?.name !== 'string' || names.has(v.name)) fail(`missing or repeated name ${JSON.stringify(v?.name)}`)
    names.add(v.name)
    if (section !== 'responses' && !/^([0-9a-f]{2})+$/.test(v.hex)) fail(`${v.name}: hex must be lowercase pairs`)
    if (section !== 'responses' && typeof v.decoded !== 'object') fail(`${v.name}: no "decoded"`)
  }
}

/** The reference answer: 0 alone, or a status byte, a u64 size and the text. */
function responseHex ({ name, message, error }) {
  if (message === undefined && error === undefined) return '00'
  if (message !== undefined && error !== undefined) fail(`${name}: both message and error`)
  const text = Buffer.from(message ?? error, 'utf8')
  const head = Buffer.alloc(9)
  head[0] = error === undefined ? 0 : 1
  head.writeBigUInt64BE(BigInt(text.length), 1)
  return Buffer.concat([head, text]).toString('hex')
}

/** Cut after the command byte, after each of the next two bytes, halfway, and one byte short. */
function prefixes (size) {
  return [...new Set([1, 2, 3, Math.floor(size / 2), size - 1])].filter((n) => n > 0 && n < size)
}

const out = {
  about: vectors.about,
  requests: vectors.requests,
  pipelined: vectors.pipelined,
  incomplete: vectors.requests.flatMap(({ name, hex }) => prefixes(hex.length / 2)
    .map((n) => ({ name: `${name}-first-${n}-bytes`, hex: hex.slice(0, 2 * n) }))),
  responses: vectors.responses.map((r) => ({ ...r, hex: responseHex(r) }))
}
for (const r of vectors.responses) {
  if (r.hex !== undefined && r.hex !== responseHex(r)) console.error(`${r.name}: hex rewritten from its text`)
}
writeFileSync(file, JSON.stringify(out, null, 2) + '\n')
console.log(`fixtures/protocol-vectors.json: ${out.requests.length} requests, ${out.incomplete.length} incomplete, ${out.responses.length} responses`)
