package download_test

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"rget/origin"
)

// TestImportFromAnotherModule: a program in a module of its own, outside
// this repository, imports rget/download (through a replace directive) and
// downloads a file with the right SHA-256.
func TestImportFromAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	t.Parallel()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	c := origin.Content{Size: 2<<20 + 5, Seed: 9}
	srv, err := origin.Start(origin.New(c))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	mod := t.TempDir()
	gomod := "module example.com/fetcher\n\ngo 1.26\n\nrequire rget v0.0.0\n\nreplace rget => " + root + "\n"
	prog := `package main

import (
	"context"
	"fmt"
	"os"

	"rget/download"
)

func main() {
	res, err := download.Run(context.Background(), os.Args[1], download.Options{Output: os.Args[2], Connections: 4})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(res.SHA256, res.Size)
}
`
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"go.mod": gomod, "main.go": prog, "go.sum": string(sum)} {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "got.bin")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "run", "-mod=mod", ".", srv.URL+"/file", out)
	cmd.Dir = mod
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run: %v\n%s", err, b)
	}
	want := c.SHA256()
	if got := strings.TrimSpace(string(b)); got != hex.EncodeToString(want[:])+" 2097157" {
		t.Fatalf("program printed %q, want the content's SHA-256 and size", got)
	}
}
