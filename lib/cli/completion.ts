import { Argument, type Command } from 'commander'
import { writeOut } from './stdout'

/** Words after `rog` and after each command: its commands, or its options. */
function words (program: Command): { top: string[], commands: Map<string, string[]>, valued: string[] } {
  const flags = (c: Command): string[] => c.options.flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined))
  const commands = new Map<string, string[]>()
  for (const c of program.commands) commands.set(c.name(), [...flags(c), '--help'])
  const valued = program.options.filter((o) => o.required || o.optional).flatMap((o) => [o.short, o.long].filter((f): f is string => f !== undefined))
  return { top: [...new Set([...commands.keys(), ...flags(program), '--help', '--version'])], commands, valued }
}

/** A bash completion function for `program`, made from its commands and options. */
export function bashCompletion (program: Command): string {
  const { top, commands, valued } = words(program)
  const cases = [...commands].map(([name, options]) => `    ${name}) words="${options.join(' ')}" ;;`)
  return `# rog completion for bash: source <(rog completion bash)
_rog() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd= words i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      ${valued.join('|')}) ((i++)) ;;
      -*) ;;
      *) cmd=\${COMP_WORDS[i]}; break ;;
    esac
  done
  case $cmd in
    '') words="${top.join(' ')}" ;;
${cases.join('\n')}
    *) words= ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _rog rog
`
}

export function completionCommand (program: Command): void {
  program.command('completion')
    .description('print a shell completion script: source <(rog completion bash), or in ~/.zshrc: source <(rog completion zsh)')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh']))
    .action(async (shell: 'bash' | 'zsh') => {
      const bash = bashCompletion(program)
      await writeOut(shell === 'bash' ? bash : `#compdef rog\n# rog completion for zsh, through its bash completion support\nautoload -U +X bashcompinit && bashcompinit\n${bash}`)
    })
}
