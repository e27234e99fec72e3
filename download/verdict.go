package download

// This file decides what limited a download, from what was measured while
// it ran: the connections' rates, refusals, the writes, the machine's CPU.

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"rget/segment"
)

// Verdict says what limited a download, and what each connection did.
type Verdict struct {
	// Limit is one of "per-connection cap", "link or server total",
	// "server refused connections", "disk", "cpu", or "" (too short to
	// tell).
	Limit string `json:"limit"`
	// Summary is one sentence saying so, with the figures.
	Summary string     `json:"summary"`
	Conns   []ConnStat `json:"connections"`
}

// ConnStat is what one connection did.
type ConnStat struct {
	Conn    int     `json:"conn"` // 1-based, as --debug shows it
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`          // in requests
	Rate    float64 `json:"bytes_per_second"` // Bytes over Seconds
	Retries int64   `json:"retries"`
}

// measures are what a verdict is decided from.
type measures struct {
	prog      *segment.Progress
	wall      time.Duration // of the fetch
	cpu       float64       // the machine's busy share during it; -1 unknown
	writeBusy time.Duration // time the part file's writer was held
	hashLag   time.Duration // from the last byte to the digest
	refused   bool          // 429/503 answers, or -c auto capped by them
	auto      bool
	autoNote  string // the scaler's last reason
}

// verdict decides what limited the download.
func verdict(m measures) *Verdict {
	v := &Verdict{}
	var rates []float64
	var total float64
	for i := range m.prog.Conns {
		c := &m.prog.Conns[i]
		st := ConnStat{Conn: i + 1, Bytes: c.Received.Load(), Seconds: time.Duration(c.Busy.Load()).Seconds(), Retries: c.Retries.Load()}
		if st.Bytes == 0 && st.Retries == 0 {
			continue
		}
		if st.Seconds > 0 {
			st.Rate = float64(st.Bytes) / st.Seconds
			rates = append(rates, st.Rate)
			total += float64(st.Bytes)
		}
		v.Conns = append(v.Conns, st)
	}
	sec := m.wall.Seconds()
	if sec < 0.2 || len(rates) == 0 {
		v.Summary = "too short to tell what limited it"
		return v
	}
	rate := total / sec
	mean, cv := spread(rates)
	cores := runtime.NumCPU()
	switch {
	case m.refused:
		v.Limit = "server refused connections"
		v.Summary = fmt.Sprintf("the server refused more connections (429/503 answers)%s; %d ran at %s in all",
			note(m.autoNote), len(rates), mbs(rate))
	case m.cpu >= 0.9:
		v.Limit = "cpu"
		v.Summary = fmt.Sprintf("the CPU: the machine's %d cores were %.0f%% busy (hashing, TLS, copying; on loopback the server shares them) at %s",
			cores, 100*m.cpu, mbs(rate))
	case m.hashLag > m.wall/5:
		v.Limit = "cpu"
		v.Summary = fmt.Sprintf("the CPU: the hash finished %.2f s after the last byte, behind the %s download", m.hashLag.Seconds(), mbs(rate))
	case m.writeBusy > m.wall*7/10:
		v.Limit = "disk"
		v.Summary = fmt.Sprintf("the disk: writes held the connections %.0f%% of the time at %s", 100*m.writeBusy.Seconds()/sec, mbs(rate))
	case cv < 0.2 && (!m.auto || strings.Contains(m.autoNote, "maximum")):
		v.Limit = "per-connection cap"
		more := fmt.Sprintf("-c %d, or -c auto", 2*len(rates))
		if m.auto {
			// -c auto stopped at its maximum: that is what to raise.
			more = fmt.Sprintf("--max-connections %d", 2*len(rates))
		}
		v.Summary = fmt.Sprintf("each connection ran at ~%s, as if the server caps each one; more connections would help (%s)",
			mbs(mean), more)
	default:
		v.Limit = "link or server total"
		v.Summary = fmt.Sprintf("the link or the server's total: %d connections moved %s together%s", len(rates), mbs(rate), note(m.autoNote))
	}
	return v
}

// spread is the mean of xs and their coefficient of variation.
func spread(xs []float64) (mean, cv float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	if mean <= 0 {
		return mean, 0
	}
	return mean, math.Sqrt(ss/float64(len(xs))) / mean
}

func note(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// mbs formats a rate in MB/s, or in kB/s below 1 MB/s (a connection capped
// at 50 kB/s read "0.0 MB/s").
func mbs(r float64) string {
	if r < 1e6 {
		return fmt.Sprintf("%.0f kB/s", r/1e3)
	}
	return fmt.Sprintf("%.1f MB/s", r/1e6)
}

// ticks emits an EventTick twice a second until ctx is done.
func ticks(ctx context.Context, cfg config, led *segment.Ledger, prog *segment.Progress) {
	const every = 500 * time.Millisecond
	t := time.NewTicker(every)
	defer t.Stop()
	last := led.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			done, size := led.Done(), led.Size()
			rate := float64(done-last) / every.Seconds()
			last = done
			eta := -1.0
			if size >= 0 && rate > 0 {
				eta = float64(size-done) / rate
			}
			cfg.emit(Event{Kind: EventTick, Tick: &Tick{Bytes: done, Size: size, Rate: rate, ETA: eta, Connections: prog.Active()}})
		}
	}
}
