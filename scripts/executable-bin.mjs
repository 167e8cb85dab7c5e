// The compiled CLI is made executable: npm does that when it links a package's bins, but `npx rog`
// reuses a link made for an earlier checkout at the same path, and then runs the new file as it is.
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const { bin } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
for (const file of Object.values(typeof bin === 'string' ? { rog: bin } : bin)) fs.chmodSync(path.join(root, file), 0o755)
