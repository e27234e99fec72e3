package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"rget/journal"
)

// statusReport is what `rget status` says about one output file.
type statusReport struct {
	Output          string    `json:"output"`
	InProgress      bool      `json:"in_progress"`
	Exists          bool      `json:"exists,omitempty"` // no journal, but a file of that name
	URL             string    `json:"url,omitempty"`
	Size            int64     `json:"size"`
	BytesDone       int64     `json:"bytes_done"`
	SegmentsDone    int       `json:"segments_done"`
	SegmentsPartial int       `json:"segments_partial"`
	SegmentsPending int       `json:"segments_pending"`
	ETag            string    `json:"etag,omitempty"`
	LastModified    string    `json:"last_modified,omitempty"`
	SHA256          string    `json:"expected_sha256,omitempty"`
	HashedBytes     int64     `json:"hashed_bytes"`
	Saved           time.Time `json:"last_checkpoint,omitzero"`
	AgeSeconds      float64   `json:"checkpoint_age_seconds,omitempty"`
}

func statusCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show what the journal of an interrupted download says",
		ArgsUsage: "OUT",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object on stdout"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("status: want one OUT, got %d arguments", c.NArg())
			}
			rep, err := status(c.Args().First(), time.Now())
			if err != nil {
				return err
			}
			if c.Bool("json") {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printStatus(stdout, rep)
			return nil
		},
	}
}

// status reads the journal of out (named as OUT, OUT.part or OUT.rget).
func status(out string, now time.Time) (*statusReport, error) {
	for _, suffix := range []string{".part", ".rget"} {
		if base, ok := strings.CutSuffix(out, suffix); ok && base != "" {
			if _, err := os.Stat(base + ".rget"); err == nil {
				out = base
			}
		}
	}
	st, err := journal.Load(out + ".rget")
	if errors.Is(err, os.ErrNotExist) {
		if fi, serr := os.Stat(out); serr == nil && fi.Mode().IsRegular() {
			return &statusReport{Output: out, Exists: true, Size: fi.Size()}, nil
		}
		return nil, fmt.Errorf("status: no download of %s in progress (no %s.rget)", out, out)
	}
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	rep := &statusReport{
		Output: out, InProgress: true, URL: st.URL, Size: st.Size, BytesDone: st.BytesDone(),
		ETag: st.ETag, LastModified: st.LastModified, SHA256: st.SHA256, HashedBytes: st.HashOffset,
		Saved: st.Saved, AgeSeconds: now.Sub(st.Saved).Seconds(),
	}
	for _, p := range st.Parts {
		switch {
		case p.Done == p.End-p.Start:
			rep.SegmentsDone++
		case p.Done > 0:
			rep.SegmentsPartial++
		default:
			rep.SegmentsPending++
		}
	}
	return rep, nil
}

func printStatus(w io.Writer, r *statusReport) {
	if !r.InProgress {
		// Nothing says whether the file is whole: rget verify checks it.
		fmt.Fprintf(w, "%s: no download in progress; the file exists, %s\n", r.Output, formatBytes(r.Size))
		return
	}
	pct := 0.0
	if r.Size > 0 {
		pct = 100 * float64(r.BytesDone) / float64(r.Size)
	}
	fmt.Fprintf(w, "%s: download in progress\n", r.Output)
	fmt.Fprintf(w, "  url            %s\n", r.URL)
	fmt.Fprintf(w, "  done           %s of %s (%.1f%%)\n", formatBytes(r.BytesDone), formatBytes(r.Size), pct)
	fmt.Fprintf(w, "  segments       %d done, %d partial, %d pending\n", r.SegmentsDone, r.SegmentsPartial, r.SegmentsPending)
	fmt.Fprintf(w, "  hashed         %s\n", formatBytes(r.HashedBytes))
	if r.ETag != "" {
		fmt.Fprintf(w, "  etag           %s\n", r.ETag)
	}
	if r.LastModified != "" {
		fmt.Fprintf(w, "  last-modified  %s\n", r.LastModified)
	}
	if r.SHA256 != "" {
		fmt.Fprintf(w, "  expected sha256 %s\n", r.SHA256)
	}
	fmt.Fprintf(w, "  last checkpoint %s ago (%s)\n", time.Duration(r.AgeSeconds*float64(time.Second)).Round(time.Second), r.Saved.Local().Format(time.RFC3339))
	fmt.Fprintf(w, "rerun the same rget get command to resume\n")
}
