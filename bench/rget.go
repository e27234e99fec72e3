package bench

import (
	"context"
	"time"

	"rget/download"
)

// Rget is rget itself as a Tool, run in this process through download.Run,
// the code path of `rget get`: probe, plan, fetch, journal, hash, verify
// against want (if known), publish. With discard, the bytes are thrown
// away: no file, no hash.
func Rget(version string, discard bool, want string) Tool {
	return Tool{Name: "rget", Version: version, Func: func(ctx context.Context, url, dir string, conns int) (Outcome, error) {
		res, err := download.Run(ctx, url, download.Options{
			Dir: dir, Output: "out.bin", Connections: conns, SHA256: want, Force: true, Discard: discard,
		})
		if err != nil {
			return Outcome{}, err
		}
		out := Outcome{Bytes: res.Size, SHA256: res.SHA256, Tail: time.Duration(res.VerifySeconds * float64(time.Second))}
		if !discard {
			out.Path = res.Output
		}
		return out, nil
	}}
}
