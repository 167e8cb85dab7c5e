import * as fs from 'node:fs'
import * as path from 'node:path'

/** This package's version, from the package.json above this file (in lib/ or, compiled, in dist/lib/). */
export const VERSION = findVersion(__dirname)

function findVersion (dir: string): string {
  for (let at = dir; ; at = path.dirname(at)) {
    const file = path.join(at, 'package.json')
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'rog' && pkg.version !== undefined) return pkg.version
    }
    if (path.dirname(at) === at) return 'unknown'
  }
}
