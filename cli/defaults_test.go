package cli

import (
	"io"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestConnectionsDefault: one file is fetched with -c auto unless -c says
// otherwise; a batch given no -c shares 8 connections, and -c auto asked of
// a batch is its budget of --max-connections.
func TestConnectionsDefault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args  []string
		auto  bool
		conns int
	}{
		{[]string{"http://h/a"}, true, 64},
		{[]string{"--max-connections", "20", "http://h/a"}, true, 20},
		{[]string{"-c", "5", "http://h/a"}, false, 5},
		{[]string{"http://h/a", "http://h/b"}, false, batchConnections},
		{[]string{"-c", "auto", "http://h/a", "http://h/b"}, true, 64},
		{[]string{"-c", "3", "http://h/a", "http://h/b"}, false, 3},
	} {
		cmd := getCommand(io.Discard, io.Discard)
		var got getConfig
		var perr error
		cmd.Action = func(c *cli.Context) error {
			got, perr = getConfigFrom(c)
			return nil
		}
		app := &cli.App{Commands: []*cli.Command{cmd}, Writer: io.Discard, ErrWriter: io.Discard}
		if err := app.Run(append([]string{"rget", "get"}, tc.args...)); err != nil || perr != nil {
			t.Fatalf("%v: %v %v", tc.args, err, perr)
		}
		if got.Auto != tc.auto || got.Connections != tc.conns {
			t.Errorf("%v: auto %v, %d connections; want auto %v, %d", tc.args, got.Auto, got.Connections, tc.auto, tc.conns)
		}
	}
}
