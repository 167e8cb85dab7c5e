import * as fs from 'node:fs'
import * as path from 'node:path'

/** The console's files, shipped as they are (no build step): served from `console/` beside this module. */
const DIR = path.join(__dirname, 'console')
const FILES: Record<string, { file: string, type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console.js': { file: 'console.js', type: 'text/javascript; charset=utf-8' },
  '/console.css': { file: 'console.css', type: 'text/css; charset=utf-8' }
}

/** The asset served at `urlPath`, read once and kept (they are small), or null. */
export class ConsoleAssets {
  private readonly cache = new Map<string, { body: Buffer, type: string }>()

  get (urlPath: string): { body: Buffer, type: string } | null {
    const known = FILES[urlPath]
    if (known === undefined) return null
    let asset = this.cache.get(urlPath)
    if (asset === undefined) {
      asset = { body: fs.readFileSync(path.join(DIR, known.file)), type: known.type }
      this.cache.set(urlPath, asset)
    }
    return asset
  }
}
