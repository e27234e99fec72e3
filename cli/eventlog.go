package cli

// This file writes a download's events as JSON lines (--events FILE,
// --progress json): one object a line, with stable names, documented in
// README.

import (
	"encoding/json"
	"io"
	"strings"
	"sync"
	"time"

	"rget/download"
)

// eventLog writes events as JSON lines.
type eventLog struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	batch bool
}

func newEventLog(w io.Writer, batch bool) *eventLog {
	return &eventLog{w: w, start: time.Now(), batch: batch}
}

// write encodes one event; events without a line of their own (EventFetchStart, EventFetchEnd) are skipped.
func (l *eventLog) write(ev download.Event) {
	m := eventFields(ev)
	if m == nil {
		return
	}
	m["t"] = float64(time.Since(l.start).Milliseconds()) / 1000
	if l.batch {
		m["file"] = ev.File
	}
	name := m["event"]
	delete(m, "event")
	rest, err := json.Marshal(m)
	if err != nil {
		return
	}
	head, _ := json.Marshal(name)
	line := append(append([]byte(`{"event":`), head...), ',')
	line = append(append(line, rest[1:]...), '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Write(line) //nolint:errcheck // a broken event stream must not stop the download
}

// eventFields are the fields of one event's line, nil for none.
func eventFields(ev download.Event) map[string]any {
	switch ev.Kind {
	case download.EventStart:
		return map[string]any{"event": "start", "url": ev.Message}
	case download.EventProbe:
		p := ev.Probe
		return map[string]any{"event": "probe", "final_url": p.FinalURL, "size": p.Size, "ranges": p.Ranges,
			"etag": p.ETag, "last_modified": p.LastModified, "sources": p.Sources}
	case download.EventConnection:
		m := map[string]any{"event": "connection", "conn": ev.Conns + 1, "action": "close", "reason": ev.Message}
		if ev.Open {
			m["action"], m["reason"] = "open", "new TCP connection"
		}
		return m
	case download.EventRangeStart:
		m := map[string]any{"event": "range", "action": "start", "conn": ev.Trace.Conn + 1, "range": ev.Trace.Range}
		if ev.Trace.Kept {
			m["probe"] = true
		}
		return m
	case download.EventRequest:
		t := ev.Trace
		if t.Conn < 0 {
			return map[string]any{"event": "probe_request", "range": t.Range, "status": t.Status, "seconds": t.Duration.Seconds(),
				"kept": t.Kept, "error": errText(t.Err)}
		}
		m := map[string]any{"event": "range", "action": "done", "conn": t.Conn + 1, "range": t.Range, "status": t.Status,
			"bytes": t.Bytes, "seconds": t.Duration.Seconds(), "error": errText(t.Err)}
		if t.Ahead {
			m["ahead"] = true
		}
		if t.Kept {
			m["probe"] = true
		}
		return m
	case download.EventRetry:
		r := ev.Retry
		return map[string]any{"event": "retry", "what": r.What, "attempt": r.Attempt, "max": r.Max,
			"delay_seconds": r.Delay.Seconds(), "reason": retryReason(r.Err)}
	case download.EventCheckpoint:
		return map[string]any{"event": "checkpoint", "bytes": ev.Bytes, "durable": ev.Durable}
	case download.EventTick:
		k := ev.Tick
		return map[string]any{"event": "progress", "bytes": k.Bytes, "size": k.Size, "bytes_per_second": k.Rate,
			"eta_seconds": k.ETA, "connections": k.Connections}
	case download.EventScale:
		return map[string]any{"event": "scale", "connections": ev.Conns, "reason": ev.Message}
	case download.EventNotice:
		return map[string]any{"event": "notice", "message": ev.Message}
	case download.EventWarning:
		return map[string]any{"event": "warning", "message": ev.Message}
	case download.EventVerify:
		return map[string]any{"event": "verify", "sha256": ev.Message, "seconds": ev.Seconds}
	case download.EventDone, download.EventFileDone:
		name := "done"
		if ev.Kind == download.EventFileDone {
			name = "file_done"
		}
		if ev.Err != nil {
			err := advise(ev.Err)
			return map[string]any{"event": strings.Replace(name, "done", "error", 1), "error": oneLine(err), "exit_code": exitCode(err)}
		}
		return map[string]any{"event": name, "result": ev.Result}
	}
	return nil
}

// errText is err's one-line message, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return oneLine(err)
}
