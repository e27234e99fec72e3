package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

// This file gives every flag of `rget get` two more sources, weaker than
// the command line: an environment variable RGET_NAME (RGET_CONNECTIONS,
// RGET_LIMIT_RATE, ...), and a config file, as ~/.curlrc and aria2.conf do.
//
// The config file is $RGET_CONFIG, else $XDG_CONFIG_HOME/rget/config, else
// ~/.config/rget/config. Each line is a flag's long name and its value:
//
//	# comments and blank lines are ignored
//	connections = 16
//	limit-rate = 10M
//	header = Authorization: Bearer xyz
//	quiet
//
// A flag given on the command line wins over the file.

// withEnv gives each flag without one the environment variable RGET_NAME.
func withEnv(flags []cli.Flag) []cli.Flag {
	for _, f := range flags {
		name := "RGET_" + strings.ToUpper(strings.ReplaceAll(f.Names()[0], "-", "_"))
		switch f := f.(type) {
		case *cli.StringFlag:
			f.EnvVars = defaultEnv(f.EnvVars, name)
		case *cli.IntFlag:
			f.EnvVars = defaultEnv(f.EnvVars, name)
		case *cli.BoolFlag:
			f.EnvVars = defaultEnv(f.EnvVars, name)
		case *cli.DurationFlag:
			f.EnvVars = defaultEnv(f.EnvVars, name)
		case *cli.StringSliceFlag:
			f.EnvVars = defaultEnv(f.EnvVars, name)
		}
	}
	return flags
}

func defaultEnv(vars []string, name string) []string {
	if len(vars) > 0 {
		return vars
	}
	return []string{name}
}

// configPath is where the config file is looked for.
func configPath() string {
	if p := os.Getenv("RGET_CONFIG"); p != "" {
		return p
	}
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "rget", "config")
}

// configArgs reads the config file at path into command line arguments
// for cmd; no file is no arguments.
func configArgs(path string, cmd *cli.Command) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) || (os.IsPermission(err) && os.Getenv("RGET_CONFIG") == "") {
		// None there, or one the user running rget may not read (another
		// user's home, as under sudo -u): only a file named by
		// RGET_CONFIG must be readable.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return parseConfig(f, path, cmd)
}

// parseConfig turns config lines into arguments: "name = value" is
// "--name value", a lone "name" a boolean flag.
func parseConfig(r io.Reader, path string, cmd *cli.Command) ([]string, error) {
	var args []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, hasValue := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !knownFlag(cmd, name) {
			return nil, usagef("config %s:%d: %q is not a flag of rget %s", path, n, name, cmd.Name)
		}
		if hasValue {
			args = append(args, "--"+name, strings.TrimSpace(value))
		} else {
			args = append(args, "--"+name)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return args, nil
}

// knownFlag reports whether name is a long flag of cmd.
func knownFlag(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name && len(n) > 1 {
				return true
			}
		}
	}
	return false
}

// notGiven drops from the config's arguments the flags that the command
// line gives (in any of their names): the command line wins, and urfave/cli
// refuses two forms of one flag.
func notGiven(config, cmdline []string, cmd *cli.Command) []string {
	given := map[cli.Flag]bool{}
	for _, a := range cmdline {
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") {
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if f := flagNamed(cmd, name); f != nil {
				given[f] = true
			}
		}
	}
	var out []string
	for i := 0; i < len(config); i++ {
		f := flagNamed(cmd, strings.TrimPrefix(config[i], "--"))
		hasValue := i+1 < len(config) && !strings.HasPrefix(config[i+1], "--")
		if !given[f] {
			out = append(out, config[i])
			if hasValue {
				out = append(out, config[i+1])
			}
		}
		if hasValue {
			i++
		}
	}
	return out
}

// flagNamed is cmd's flag with name among its names, or nil.
func flagNamed(cmd *cli.Command, name string) cli.Flag {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}
