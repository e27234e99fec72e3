package download_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"rget/download"
	"rget/origin"
)

// Download a file over 4 connections, verified against its SHA-256.
func Example() {
	// A local origin of 3 MiB of synthetic content stands for the server.
	content := origin.Content{Size: 3 << 20, Seed: 1}
	srv, err := origin.Start(origin.New(content))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	sum := content.SHA256()
	res, err := download.Run(context.Background(), srv.URL+"/file", download.Options{
		Output:      filepath.Join(dir, "big.bin"),
		Connections: 4,
		SHA256:      hex.EncodeToString(sum[:]),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(filepath.Base(res.Output), res.Size, res.Verified)
	// Output: big.bin 3145728 true
}
