// The console page is plain HTML, CSS and JavaScript: copied beside the compiled module that serves it.
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const from = path.join(root, 'lib', 'observe', 'console')
const to = path.join(root, 'dist', 'lib', 'observe', 'console')
fs.rmSync(to, { recursive: true, force: true })
fs.cpSync(from, to, { recursive: true })
