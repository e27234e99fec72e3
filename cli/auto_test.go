package cli

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rget/origin"
)

// readEvents parses an --events file: one JSON object a line.
func readEvents(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("event line %q: %v", sc.Text(), err)
		}
		evs = append(evs, m)
	}
	return evs
}

// TestEventsStream: the --events stream of a download whose probe is
// refused once (a retry) and one of whose connections stalls (1 byte/s):
// the lifecycle in order, the probe's answer read on as the first range,
// every range started and ended on its connection,
// the retry with its reason and delay, the stalled connection closed with
// a reason, progress ticks, and the result with its verdict last.
func TestEventsStream(t *testing.T) {
	t.Parallel()
	bin := buildRget(t)
	c := origin.Content{Size: 8<<20 + 1, Seed: 1}
	opts := []origin.Option{origin.WithFailFirst(1, 503), origin.WithSlowConnAt(3, 1), origin.WithRatePerConn(2 << 20)}
	srv, err := origin.Start(origin.New(c, opts...), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	path := filepath.Join(t.TempDir(), "events")
	code, _, stderr := runBin(t, bin, nil, "get", srv.URL+"/f", "-o", filepath.Join(t.TempDir(), "x"), "-c", "4", "--events", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	evs := readEvents(t, path)
	var order []string
	started := map[string]int{}
	last := -1.0
	var retried, closed, ticks bool
	var keptProbe, keptRange int // the probe's answer, read on as the first range
	for _, e := range evs {
		name, _ := e["event"].(string)
		if e["kept"] == true && name == "probe_request" {
			keptProbe++
		}
		if e["probe"] == true && name == "range" && e["action"] == "done" {
			keptRange++
			if e["range"] != "bytes=0-262143" || e["conn"] != 1.0 {
				t.Errorf("the probe's answer read as %v", e)
			}
		}
		tm, ok := e["t"].(float64)
		if !ok || tm < last {
			t.Errorf("event %v: t missing or going back (after %v)", e, last)
		}
		last = tm
		switch name {
		case "start", "probe", "verify", "done":
			order = append(order, name)
		case "retry":
			retried = retried || (e["what"] == "probe" && strings.Contains(e["reason"].(string), "503") && e["delay_seconds"].(float64) > 0)
		case "range":
			key := e["range"].(string) + "@" + jsonText(e["conn"])
			if e["action"] == "start" {
				started[key]++
			} else {
				if started[key] == 0 {
					t.Errorf("range done before it started: %v", e)
				}
				started[key]--
			}
		case "connection":
			if e["action"] == "close" && e["reason"] != "" {
				closed = true
			}
		case "progress":
			ticks = true
			for _, f := range []string{"bytes", "size", "bytes_per_second", "eta_seconds", "connections"} {
				if _, ok := e[f]; !ok {
					t.Errorf("progress event without %s: %v", f, e)
				}
			}
		}
	}
	if keptProbe != 1 || keptRange != 1 {
		t.Errorf("%d probes kept and %d ranges read from one, want 1 and 1 (-c 4: 256 KiB)", keptProbe, keptRange)
	}
	if strings.Join(order, ",") != "start,probe,verify,done" {
		t.Errorf("lifecycle %v, want start, probe, verify, done", order)
	}
	if !retried {
		t.Error("no retry event for the refused probe (what probe, reason 503, a delay)")
	}
	if !closed {
		for _, e := range evs {
			if e["event"] == "range" || e["event"] == "connection" {
				t.Logf("%v", e)
			}
		}
		t.Error("no connection closed with a reason (the stalled one)")
	}
	if !ticks {
		t.Error("no progress tick in a download of about a second")
	}
	for k, n := range started {
		if n != 0 {
			t.Errorf("range %s started %d more times than it ended", k, n)
		}
	}
	done := evs[len(evs)-1]
	res, _ := done["result"].(map[string]any)
	if done["event"] != "done" || res == nil || res["sha256"] != hexSum(c) {
		t.Fatalf("last event %v, want done with the file's digest", done)
	}
	if v, _ := res["verdict"].(map[string]any); v == nil || v["summary"] == "" || len(v["connections"].([]any)) == 0 {
		t.Errorf("result without a verdict and its connections: %v", res["verdict"])
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAutoRefused: -c auto against a server that answers 503 (Retry-After:
// 1) once more than 6 connections are open finishes without exit 4,
// settles at 6 connections at most, and says the server refused them; on
// loopback, where it starts with 8, and 20 ms away, where it starts with 16.
func TestAutoRefused(t *testing.T) {
	t.Parallel()
	bin := buildRget(t)
	for _, tc := range []struct {
		name    string
		latency time.Duration
		start   int
	}{
		{"near", 0, 8},
		{"far", 20 * time.Millisecond, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := origin.Content{Size: 48 << 20, Seed: 4}
			srv, err := origin.Start(origin.New(c, origin.WithLatency(tc.latency)), origin.WithMaxConns(6), origin.WithRatePerConn(16<<20))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			path := filepath.Join(t.TempDir(), "events")
			out := filepath.Join(t.TempDir(), "x")
			code, stdout, stderr := runBin(t, bin, nil, "get", srv.URL+"/f", "-o", out, "-c", "auto", "--events", path, "--json")
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			if got := sha256File(t, out); got != hexSum(c) {
				t.Fatalf("sha256 %s, want %s", got, hexSum(c))
			}
			// Auto starts above the server's limit: the refusals must
			// bring it down (the last scale event says where it settled).
			final := tc.start
			for _, e := range readEvents(t, path) {
				if e["event"] == "scale" {
					final = int(e["connections"].(float64))
				}
			}
			if final < 1 || final > 6 {
				t.Errorf("settled at %d connections, want 1-6", final)
			}
			var res struct {
				Verdict struct{ Limit, Summary string }
			}
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatal(err)
			}
			if srv.Refused() > 0 && res.Verdict.Limit != "server refused connections" {
				t.Errorf("verdict %+v after %d refusals, want the server refusing connections", res.Verdict, srv.Refused())
			}
			t.Logf("settled at %d connections; %d requests refused; verdict: %s", final, srv.Refused(), res.Verdict.Summary)
		})
	}
}
