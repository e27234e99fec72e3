// Command rget downloads one large file over many HTTP(S) connections at
// once, verifies its SHA-256 and publishes it only when it is complete.
//
// This file runs the command line (package cli) under the process's
// signals and turns its error into the exit status; the download itself is
// package download.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"rget/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default action so that a second
	// Ctrl-C ends the process at once.
	done := make(chan struct{})
	restored := make(chan struct{})
	go func() {
		defer close(restored)
		select {
		case <-ctx.Done():
			stop()
		case <-done:
		}
	}()
	// The standard library reports some transport events through the log
	// package (net/http: a response on an idle connection, with the bytes
	// it found): none of that reaches the terminal unless --debug asks.
	log.SetOutput(io.Discard)
	err := cli.Run(ctx, os.Args, os.Stdout, os.Stderr)
	close(done)
	<-restored
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, cli.Message(err))
	}
	os.Exit(cli.ExitCode(err))
}
