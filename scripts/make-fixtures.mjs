// Regenerates fixtures/ from the shared protocol contract, so a change there shows up here as a diff.
// Run from the repository root: `npm run fixtures` (reads ../shared, which tests never do).
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const vectors = JSON.parse(readFileSync(join(root, '..', 'shared', 'protocol-vectors.json'), 'utf8'))
writeFileSync(join(root, 'fixtures', 'protocol-vectors.json'), JSON.stringify(vectors, null, 2) + '\n')
console.log(`fixtures/protocol-vectors.json: ${vectors.requests.length} requests, ${vectors.incomplete.length} incomplete, ${vectors.responses.length} responses`)
