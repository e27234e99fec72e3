package cli

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"rget/merge"
)

func verifyCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check a file's SHA-256, or print it",
		ArgsUsage: "FILE",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "sha256", Usage: "expected digest in `HEX` (without it, the file's digest is printed, as sha256sum does)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("verify: want one FILE, got %d arguments", c.NArg())
			}
			path := c.Args().First()
			want := strings.ToLower(strings.TrimSpace(c.String("sha256")))
			if b, err := hex.DecodeString(want); want != "" && (err != nil || len(b) != 32) {
				return usagef("verify: --sha256 must be 64 hex digits")
			}
			sum, _, err := merge.HashFile(c.Context, path)
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			got := hex.EncodeToString(sum[:])
			if want == "" {
				// No digest to compare: print it, as sha256sum does.
				fmt.Fprintf(stdout, "%s  %s\n", got, path)
				return nil
			}
			if got != want {
				return &merge.ChecksumError{File: path, Want: want, Got: got}
			}
			fmt.Fprintf(stdout, "%s: OK (sha256 %s)\n", path, got)
			return nil
		},
	}
}
