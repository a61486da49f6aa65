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
	stream(ctx, w, h.opts.SSEKeepAlive, fmt.Sprintf("job %d", id), ch, func(ev jobs.Event) (string, []byte, bool, error) {
		data, err := json.Marshal(ev)
		if err != nil {
			h.log.Error("cannot encode a job event", zap.Int64("job", id), zap.Error(err))
		}
		return eventName(ev), data, ev.Type == eventFinal, err
	})
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

// stream answers 200 as an event stream: the comment first, then each
// value of ch as "id: <seq>", "event: <name>", "data: <JSON>", flushed one
// by one (event encodes it and says whether it is the last; a value it
// cannot encode is skipped), with a keep-alive comment every keepAlive. It
// ends after the last event, when ch closes, when ctx ends or when the
// client is gone (each write has sseWriteTimeout). Job events and
// verifications stream through it.
func stream[T any](ctx context.Context, w http.ResponseWriter, keepAlive time.Duration, comment string, ch <-chan T,
	event func(T) (name string, data []byte, last bool, err error)) {
	send := startStream(w)
	if !send(": " + comment + "\n\n") {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for seq := 1; ; {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !send(": keep-alive\n\n") {
				return
			}
		case v, ok := <-ch:
			if !ok {
				return
			}
			name, data, last, err := event(v)
			if err != nil {
				continue
			}
			if !send(fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", seq, name, data)) || last {
				return
			}
			seq++
		}
	}
}

// startStream answers 200 as an event stream and returns the function that
// writes (and flushes) one piece of it within sseWriteTimeout; false means
// the client is gone.
func startStream(w http.ResponseWriter) func(string) bool {
	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // reverse proxies: don't buffer the stream
	w.WriteHeader(http.StatusOK)
	return func(s string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		if _, err := fmt.Fprint(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
}
