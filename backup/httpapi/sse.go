package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/dockpack/dockpack/backup/jobs"
	"go.uber.org/zap"
)

// sseWriteTimeout bounds each write of an event stream, so a client that
// stops reading frees its handler instead of holding it forever.
const sseWriteTimeout = 30 * time.Second

// events streams a job's events as Server-Sent Events: "event: progress",
// "event: log" and one "event: final" carrying the finished job, each with
// "data: <Event JSON>", flushed one by one; a keep-alive comment every
// Options.SSEKeepAlive. The stream ends after the final event, when the
// Backend closes the subscription, or when the client goes away.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	id, err := parseJobID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel() // ends the subscription
	ch, err := h.b.Subscribe(ctx, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // reverse proxies: don't buffer the stream
	w.WriteHeader(http.StatusOK)
	send := func(s string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		if _, err := fmt.Fprint(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(fmt.Sprintf(": job %d\n\n", id)) {
		return
	}
	tick := time.NewTicker(h.opts.SSEKeepAlive)
	defer tick.Stop()
	seq := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !send(": keep-alive\n\n") {
				return
			}
		case ev, ok := <-ch:
			if !ok {
				return
			}
			data, err := json.Marshal(ev)
			if err != nil {
				h.log.Error("cannot encode a job event", zap.Int64("job", id), zap.Error(err))
				continue
			}
			seq++
			if !send(fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", seq, eventName(ev), data)) {
				return
			}
			if ev.Type == eventFinal {
				return
			}
		}
	}
}

const eventFinal = "final"

// eventName is the SSE event field: the event's type when it is a plain
// word, else "progress".
func eventName(ev jobs.Event) string {
	t := ev.Type
	if t == "" || len(t) > 32 {
		return "progress"
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c == '_' || c == '-') {
			return "progress"
		}
	}
	return t
}
