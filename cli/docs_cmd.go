package cli

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
)

// manCommand prints rget's manual page (roff), as `man` reads it.
func manCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "man",
		Usage: "print the manual page (roff): rget man > rget.1",
		Action: func(c *cli.Context) error {
			page, err := c.App.ToManWithSection(1)
			if err != nil {
				return fmt.Errorf("man: %w", err)
			}
			_, err = io.WriteString(stdout, page)
			return err
		},
	}
}

// completionCommand prints a shell completion script.
func completionCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a completion script: eval \"$(rget completion bash)\" (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Action: func(c *cli.Context) error {
			switch c.Args().First() {
			case "bash":
				_, err := io.WriteString(stdout, bashCompletion)
				return err
			case "zsh":
				_, err := io.WriteString(stdout, zshCompletion)
				return err
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return fmt.Errorf("completion: %w", err)
				}
				_, err = io.WriteString(stdout, s)
				return err
			}
			return usagef("completion: want bash, zsh or fish, not %q", c.Args().First())
		},
	}
}

// The bash and zsh scripts complete commands and flags from the words
// list below.
const bashCompletion = `# rget bash completion: eval "$(rget completion bash)"
_rget() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local cmds="get status verify bench serve man completion help"
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
  elif [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(rget ${COMP_WORDS[1]} --help 2>/dev/null | grep -o -- '--[a-z0-9-]*' | sort -u)" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _rget rget
`

const zshCompletion = `#compdef rget
# rget zsh completion: eval "$(rget completion zsh)"
_rget() {
  if (( CURRENT == 2 )); then
    compadd get status verify bench serve man completion help
  elif [[ $words[CURRENT] == -* ]]; then
    compadd -- $(rget $words[2] --help 2>/dev/null | grep -o -- '--[a-z0-9-]*' | sort -u)
  else
    _files
  fi
}
compdef _rget rget
`
