import type { Command } from 'commander'
import { withSession } from './connection'
import { writeOut } from './stdout'
import { formatTable } from './table'

export function clusterCommand (program: Command): void {
  program.command('cluster')
    .description('show the cluster: its nodes, their addresses, which are alive, and which is the controller')
    .option('--json', 'print JSON: {"cluster", "node", "controller", "nodes": [{"id", "address", "alive"}]}')
    .action(async (flags: { json?: boolean }, command: Command) => {
      await withSession(command, async (session) => {
        const client = await session.anyNode()
        const info = await client.clusterInfo()
        if (flags.json === true) {
          await writeOut(JSON.stringify(info) + '\n')
          return
        }
        if (info.cluster === null) {
          await writeOut(`${client.address}: a single node, not part of a cluster (started without --etcd)\n`)
          return
        }
        const rows = info.nodes.map((n) => [String(n.id), n.address ?? '-', n.alive ? 'alive' : 'down', n.id === info.controller ? 'controller' : ''])
        await writeOut(`cluster ${info.cluster}, asked node ${info.node ?? '?'}\n` + formatTable(['NODE', 'ADDRESS', 'STATE', 'ROLE'], ['right', 'left', 'left', 'left'], rows))
      })
    })
}
