package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"rget/origin"
)

func TestDbgRefuseBench(t *testing.T) {
	bin := buildRget(t)
	c := origin.Content{Size: 256 << 20, Seed: 1}
	for r := 0; r < 5; r++ {
		for _, cc := range []string{"auto", "16", "6"} {
			if cc != "auto" && r >= 3 {
				continue
			}
			srv, _ := origin.Start(origin.New(c), origin.WithMaxConns(6), origin.WithRatePerConn(25e6))
			ev := filepath.Join(t.TempDir(), "ev")
			start := time.Now()
			code, stdout, _ := runBin(t, bin, nil, "get", srv.URL+"/f", "-o", t.TempDir()+"/x", "-c", cc, "--json", "--events", ev)
			took := time.Since(start)
			var res struct{ Retries int; Verdict struct{ Limit string } }
			json.Unmarshal([]byte(stdout), &res)
			final := 0
			for _, e := range readEvents(t, ev) {
				if e["event"] == "scale" {
					final = int(e["connections"].(float64))
				}
			}
			fmt.Fprintf(os.Stderr, "RES\t%d\t%s\t%d\t%.2f\t%d\t%d\t%d\t%s\n", r, cc, code, took.Seconds(), srv.Refused(), res.Retries, final, res.Verdict.Limit)
			srv.Close()
		}
	}
}
