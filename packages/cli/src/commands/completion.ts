import type { Command } from "commander";
import { UsageError } from "../exit-codes.js";
import { out } from "../output.js";
import type { Context } from "../run.js";

interface Node {
  path: string[];
  subcommands: string[];
  options: string[];
}

/** Every command path with its subcommands and flags, read from the commander tree. */
function walk(cmd: Command, prefix: string[] = []): Node[] {
  const visible = cmd.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden);
  const options = cmd.options.flatMap((o) => [o.long, o.short].filter((x): x is string => !!x));
  const node: Node = { path: prefix, subcommands: visible.map((c) => c.name()), options: [...options, "--help"] };
  return [node, ...visible.flatMap((c) => walk(c, [...prefix, c.name()]))];
}

function bash(nodes: Node[], globals: string[]): string {
  const cases = nodes.map((n) => `    "${n.path.join(" ")}") words="${[...n.subcommands, ...n.options, ...globals].join(" ")}" ;;`).join("\n");
  return `# sf completion for bash: eval "$(sf completion bash)" (e.g. in ~/.bashrc)
_sf_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" w i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    case "$path" in
${nodes
  .filter((n) => n.subcommands.length > 0)
  .map((n) => `      "${n.path.join(" ")}") case " ${n.subcommands.join(" ")} " in *" $w "*) path="\${path:+$path }$w" ;; esac ;;`)
  .join("\n")}
    esac
  done
  local words=""
  case "$path" in
${cases}
  esac
  if [[ "$cur" == -* || -n "$words" ]]; then
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  fi
  [[ \${#COMPREPLY[@]} -eq 0 ]] && COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F _sf_complete sf
`;
}

function fish(nodes: Node[]): string {
  const lines = ["# sf completion for fish: sf completion fish > ~/.config/fish/completions/sf.fish"];
  for (const n of nodes) {
    const cond = n.path.length === 0 ? `not __fish_seen_subcommand_from ${nodes[0]!.subcommands.join(" ")}` : n.path.map((p) => `__fish_seen_subcommand_from ${p}`).join("; and ");
    for (const s of n.subcommands) lines.push(`complete -c sf -n '${cond}' -a ${s}`);
    for (const o of n.options) {
      if (o.startsWith("--")) lines.push(`complete -c sf -n '${cond}' -l ${o.slice(2)}`);
      else lines.push(`complete -c sf -n '${cond}' -s ${o.slice(1)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

export function registerCompletion(program: Command, ctx: Context): void {
  program
    .command("completion <shell>")
    .description("print a shell completion script: bash, zsh or fish")
    .addHelpText("after", `\n  bash: eval "$(sf completion bash)"\n  zsh:  eval "$(sf completion zsh)"\n  fish: sf completion fish > ~/.config/fish/completions/sf.fish`)
    .action((shell: string) => {
      const nodes = walk(program);
      const globals = program.options.flatMap((o) => [o.long].filter((x): x is string => !!x));
      if (shell === "bash") return out(ctx.io, bash(nodes, globals));
      // zsh runs the bash function through bashcompinit: one script to keep right.
      if (shell === "zsh") return out(ctx.io, `autoload -U +X bashcompinit && bashcompinit\n${bash(nodes, globals)}`);
      if (shell === "fish") return out(ctx.io, fish(nodes));
      throw new UsageError(`unknown shell "${shell}": expected bash, zsh or fish`);
    });
}
