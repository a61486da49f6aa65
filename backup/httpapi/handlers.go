package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/dockpack/dockpack/backup/settings"

	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"go.uber.org/zap"
)

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // application/json with nosniff: no HTML context to escape for
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"internal_error","detail":"cannot encode the answer"}` + "\n")
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// Triggers recorded on jobs started over HTTP.
const (
	triggerAPI    = "api"    // native POST /v1/backups
	triggerManual = "manual" // RagFlowAuth's buttons
)

// backupBody is the body of POST /v1/backups.
type backupBody struct {
	Components []string `json:"components"`
}

func (h *handler) startBackup(w http.ResponseWriter, r *http.Request) {
	var body backupBody
	if err := h.decodeObject(w, r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	req := jobs.Request{Trigger: triggerAPI}
	if body.Components != nil {
		if len(body.Components) == 0 {
			h.fail(w, r, reqErr(http.StatusBadRequest, CodeInvalidValue,
				"components is an empty list: name at least one of db, volumes, images, or leave it out for database + volumes"))
			return
		}
		for _, s := range body.Components {
			c, err := pack.ParseComponent(s)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			if !slices.Contains(req.Components, c) {
				req.Components = append(req.Components, c)
			}
		}
	}
	job, err := h.b.Start(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Relative to /v1/backups, so it stays right under any mount prefix.
	w.Header().Set("Location", "jobs/"+strconv.FormatInt(job.ID, 10))
	writeJSON(w, http.StatusAccepted, h.jobJSON(r, job))
}

func (h *handler) listJobs(w http.ResponseWriter, r *http.Request) {
	o, err := parseListOptions(r, !h.isCompat(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list, err := h.b.List(r.Context(), o)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if list == nil {
		list = []jobs.Job{}
	}
	writeJSON(w, http.StatusOK, map[string][]any{"jobs": h.jobsJSON(r, list)})
}

func (h *handler) getJob(w http.ResponseWriter, r *http.Request) {
	id, err := parseJobID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	job, err := h.b.Get(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.jobJSON(r, job))
}

// DefaultCancelReason is recorded when a cancel request gives no reason.
const DefaultCancelReason = "canceled_by_user"

func (h *handler) cancelJob(w http.ResponseWriter, r *http.Request) {
	id, err := parseJobID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	reason, err := h.cancelReason(w, r, DefaultCancelReason)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	job, err := h.b.Cancel(r.Context(), id, reason)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.jobJSON(r, job))
}

func (h *handler) jobLog(w http.ResponseWriter, r *http.Request) {
	id, err := parseJobID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	lines, err := h.b.(JobLogger).JobLog(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if lines == nil {
		lines = []jobs.LogLine{}
	}
	writeJSON(w, http.StatusOK, map[string][]jobs.LogLine{"lines": lines})
}

func (h *handler) packs(w http.ResponseWriter, r *http.Request) {
	packs, err := h.b.Packs(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if packs == nil {
		packs = []pack.Info{}
	}
	writeJSON(w, http.StatusOK, map[string][]pack.Info{"packs": packs})
}

func (h *handler) getSettings(w http.ResponseWriter, r *http.Request) {
	s, err := h.b.Settings(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeSettings(w, r, s)
}

func (h *handler) putSettings(w http.ResponseWriter, r *http.Request) {
	body, err := h.readBody(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if h.isCompat(r) {
		body = h.compatSettingsBody(r.Context(), body) // compat_settings.go
	}
	p, err := parseSettingsPatch(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	s, err := h.b.UpdateSettings(r.Context(), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeSettings(w, r, s)
}

// writeSettings answers the settings; on the compat route as RagFlowAuth's
// page reads them (compat_settings.go).
func (h *handler) writeSettings(w http.ResponseWriter, r *http.Request, s settings.Settings) {
	if s.StopServices == nil {
		s.StopServices = []string{}
	}
	if s.PinnedFields == nil {
		s.PinnedFields = []string{}
	}
	if !h.isCompat(r) {
		writeJSON(w, http.StatusOK, s)
		return
	}
	m, err := compatSettingsJSON(s)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (h *handler) compatNoDrills(w http.ResponseWriter, r *http.Request) {
	if _, err := parseListOptions(r, false); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": []any{}, "count": 0})
}

func (h *handler) compatDrillsUnavailable(w http.ResponseWriter, r *http.Request) {
	h.fail(w, r, reqErr(http.StatusNotImplemented, CodeNotImplemented, "restore drills are not available in this dockpack version"))
}

// lock serves the lock lease (backup.LockInfo's JSON).
func (h *handler) lock(w http.ResponseWriter, r *http.Request) {
	li, err := h.b.(LockReporter).Lock(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, li)
}

// schedule serves the schedules and their next runs (backup.ScheduleStatus's JSON).
func (h *handler) schedule(w http.ResponseWriter, r *http.Request) {
	st, err := h.b.(ScheduleReporter).ScheduleStatus(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// statusWriter records the status for the request log; Unwrap keeps
// http.ResponseController (flush, deadlines) working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() { _ = http.NewResponseController(s.ResponseWriter).Flush() }

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logged logs every request at debug level (never its headers: they hold
// the token).
func (h *handler) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if ce := h.log.Check(zap.DebugLevel, "request"); ce != nil {
			ce.Write(zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", sw.status),
				zap.Duration("took", time.Since(t0)))
		}
	})
}

// recovered turns a panic in a handler into a logged 500 instead of a
// dropped connection.
func (h *handler) recovered(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				h.log.Error("handler panic", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Any("panic", p), zap.Stack("stack"))
				h.fail(w, r, fmt.Errorf("handler panic: %v", p))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
