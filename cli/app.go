// Package cli is rget's command line: one file per command (get, status,
// verify, bench, serve) translating flags into options, the progress views,
// and the mapping of errors to exit codes. Package main only runs it.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"rget/merge"
	"rget/segment"
)

// version is set at build time with -ldflags "-X rget/cli.version=...".
var version = "0.1.0-dev"

// Exit codes, documented in README.md.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitIntegrity   = 3
	exitHTTPStatus  = 4
	exitInterrupted = 130
)

// errInterrupted marks a run stopped by SIGINT or SIGTERM.
var errInterrupted = errors.New("interrupted")

// usageError is a command line that cannot be run as written.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCode maps the error a command returned to the process exit code.
func exitCode(err error) int {
	var (
		ue usageError
		ce *merge.ChecksumError
		ze *merge.SizeError
		se *segment.StatusError
		be *codedError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &be):
		return be.code
	case errors.Is(err, errInterrupted):
		return exitInterrupted
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ce), errors.As(err, &ze):
		return exitIntegrity
	case errors.As(err, &se):
		return exitHTTPStatus
	default:
		return exitFailure
	}
}

// Run is the whole program but for the process itself: the command line
// args (args[0] is the program's name), output to stdout and stderr, and
// the error that ExitCode maps to the exit status. ctx ends the run (the
// signals of main).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, args, stdout, stderr)
}

// ExitCode maps the error Run returned to the process exit code.
func ExitCode(err error) int { return exitCode(err) }

// Message is the one line main prints for err.
func Message(err error) string { return "rget: " + oneLine(err) }

// oneLine flattens an error message to a single line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// run is the whole program but for the process itself: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	app := newApp(stdout, stderr)
	args = normalizeArgs(app, args)
	if len(args) > 1 && args[1] == "get" {
		extra, err := configArgs(configPath(), app.Command("get"))
		if err != nil {
			return err
		}
		extra = notGiven(extra, args[2:], app.Command("get"))
		// Before the command line's flags: those win.
		args = append(append(append([]string(nil), args[:2]...), extra...), args[2:]...)
	}
	if slices.ContainsFunc(args, isHelpFlag) {
		// Rendered only when help may be shown: all of them took 1.5 ms
		// of every run's start.
		for _, c := range app.Commands {
			c.CustomHelpTemplate = commandHelp(c)
		}
	}
	err := app.RunContext(ctx, args)
	if err != nil && ctx.Err() != nil && !errors.Is(err, errInterrupted) {
		// Every command stopped by a signal exits 130, whatever failed
		// on the way out.
		return fmt.Errorf("%w: %w", errInterrupted, err)
	}
	return err
}

// isHelpFlag reports whether a is a help flag as the flag package reads
// one: -h, --help, -help, --h, with or without =value.
func isHelpFlag(a string) bool {
	name, _, _ := strings.Cut(a, "=")
	if !strings.HasPrefix(name, "-") {
		return false
	}
	name = strings.TrimPrefix(strings.TrimPrefix(name, "-"), "-")
	return name == "h" || name == "help"
}

func newApp(stdout, stderr io.Writer) *cli.App {
	onUsage := func(c *cli.Context, err error, _ bool) error {
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
			dashes := "--"
			if len(strings.TrimPrefix(name, "-")) == 1 {
				dashes = "-"
			}
			cmd := "rget"
			if c != nil && c.Command != nil && c.Command.Name != "" {
				cmd += " " + c.Command.Name
			}
			return usagef("unknown flag %s%s (see %s --help)", dashes, strings.TrimPrefix(name, "-"), cmd)
		}
		return usageError{err}
	}
	app := &cli.App{
		Name:            "rget",
		Usage:           "fetch one large file over many HTTP(S) connections, verified",
		UsageText:       "rget URL\n   rget get URL [-o OUT] [-c N] [--sha256 HEX]\n   rget status OUT\n   rget verify FILE --sha256 HEX\n   rget bench [URL] [--size 1GiB] [-c 1,4,16,64] [--compare]\n   rget serve DIR | --synthetic SIZE",
		Version:         version,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		// cli.HelpFlag and cli.VersionFlag are package variables that every
		// run writes to; each App gets flags of its own instead.
		HideHelp:    true,
		HideVersion: true,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"},
			&cli.BoolFlag{Name: "version", Aliases: []string{"V"}, Usage: "print the version"},
		},
		Action: func(c *cli.Context) error {
			switch {
			case c.Bool("version"):
				fmt.Fprintf(stdout, "rget version %s\n", version)
				return nil
			case c.Bool("help") || c.NArg() == 0:
				return cli.ShowAppHelp(c)
			}
			return usagef("unknown command %q", c.Args().First())
		},
		// urfave/cli must never exit the process itself: deferred cleanup
		// would be skipped.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   onUsage,
		Commands: []*cli.Command{
			getCommand(stdout, stderr),
			verifyCommand(stdout, stderr),
			statusCommand(stdout, stderr),
			benchCommand(stdout, stderr),
			serveCommand(stdout, stderr),
			manCommand(stdout),
			completionCommand(stdout),
		},
	}
	for _, c := range app.Commands {
		c.OnUsageError = onUsage
		c.HideHelp = true
		c.Flags = append(c.Flags, &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"})
		action := c.Action
		c.Action = func(cc *cli.Context) error {
			if cc.Bool("help") {
				return cli.ShowCommandHelp(cc, cc.Command.Name)
			}
			return action(cc)
		}
	}
	return app
}

// normalizeArgs turns the shorthand "rget URL ..." into "rget get URL ...",
// and moves a command's flags before its arguments: urfave/cli v2 stops
// parsing flags at the first argument, but "rget get URL -o OUT" is how
// people (and scripts) write it.
func normalizeArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := append([]string(nil), args[:1]...)
	rest := args[1:]
	switch {
	case rest[0] == "help":
		// "rget help" and "rget help CMD", as git and go have them.
		if len(rest) > 1 && app.Command(rest[1]) != nil {
			return append(out, rest[1], "--help")
		}
		return append(out, "--help")
	case isGlobalFlag(rest[0]):
	case strings.HasPrefix(rest[0], "-") || app.Command(rest[0]) == nil:
		// The shorthand, with its flags before or after the URL:
		// "rget -c 4 URL", "rget URL -o OUT".
		rest = append([]string{"get"}, rest...)
	}
	cmd := app.Command(rest[0])
	if cmd == nil {
		return append(out, rest...)
	}
	out = append(out, rest[0])
	var flags, positional []string
	tail := rest[1:]
	for i := 0; i < len(tail); i++ {
		a := tail[i]
		switch {
		case a == "--":
			positional = append(positional, tail[i+1:]...)
			i = len(tail)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			if takesValue(cmd, a) && i+1 < len(tail) {
				i++
				flags = append(flags, tail[i])
			}
		default:
			positional = append(positional, a)
		}
	}
	out = append(out, flags...)
	if len(positional) > 0 {
		out = append(out, "--")
		out = append(out, positional...)
	}
	return out
}

// takesValue reports whether the flag token a (e.g. "-o", "--sha256") of cmd
// is followed by a separate value.
func takesValue(cmd *cli.Command, a string) bool {
	name := strings.TrimLeft(a, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			_, isBool := f.(*cli.BoolFlag)
			return !isBool
		}
	}
	return false
}

// isGlobalFlag reports whether a is one of rget's own flags (help, version)
// rather than one of get's.
func isGlobalFlag(a string) bool {
	switch a {
	case "-h", "--help", "-help", "-V", "--version", "-version":
		return true
	}
	return false
}
