//go:build !linux

package directio

import (
	"fmt"
	"os"
)

func open(path string) (*os.File, int64, uintptr, error) {
	return nil, 0, 0, fmt.Errorf("%s: %w on this system", path, ErrUnsupported)
}

func alloc(int) ([]byte, func(), error) { return nil, nil, ErrUnsupported }
