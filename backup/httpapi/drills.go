package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/dockpack/dockpack/backup/drill"
)

// DrillRunner is an optional Backend interface: when implemented (as
// *jobs.Manager does), restore drills are served —
//
//	POST {CompatPrefix}/restore-drills, POST /v1/drills   run a drill → the drill
//	GET  {CompatPrefix}/restore-drills, GET  /v1/drills   {"items": [...], "count": n}, newest first, ?limit= 1–200
//
// unless Options.Extra serves the compat path itself. A drill verifies the
// job's pack and restores its SQLite snapshot into a staging folder; it
// holds the backup lock (409 while a backup runs).
type DrillRunner interface {
	RunDrill(ctx context.Context, req drill.Request) (drill.Drill, error)
	ListDrills(ctx context.Context, limit int) ([]drill.Drill, error)
}

// Codes of a drill request RagFlowAuth's frontend knows.
const (
	CodeBackupPathRequired    = "backup_path_required"
	CodeBackupHashRequired    = "backup_hash_required"
	CodeRestoreTargetRequired = "restore_target_required"
	CodeInvalidExecutedAt     = "invalid_executed_at_ms"
)

type identityKey struct{}

// WithIdentity returns a context carrying the authenticated caller's name.
// An Options.Auth middleware sets it on the request so that restore drills
// record who ran them (executed_by); without it drills record "api".
func WithIdentity(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, identityKey{}, name)
}

// Identity returns the name WithIdentity put into ctx ("" when none).
func Identity(ctx context.Context) string {
	s, _ := ctx.Value(identityKey{}).(string)
	return s
}

// drillRoutes registers the drill routes when the Backend runs drills
// (compat ones unless compatPrefix is "" or Options.Extra serves them). It
// reports whether it did.
func (h *handler) drillRoutes(m *http.ServeMux, compatPrefix string) bool {
	if _, ok := h.b.(DrillRunner); !ok {
		return false
	}
	m.HandleFunc("GET /v1/drills", h.listDrills)
	m.HandleFunc("POST /v1/drills", h.runDrill)
	if compatPrefix != "" && !h.extraServes(compatPrefix+"/restore-drills") {
		m.HandleFunc("GET "+compatPrefix+"/restore-drills", h.listDrills)
		m.HandleFunc("POST "+compatPrefix+"/restore-drills", h.runDrill)
	}
	return true
}

func (h *handler) listDrills(w http.ResponseWriter, r *http.Request) {
	o, err := parseListOptions(r, false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	items, err := h.b.(DrillRunner).ListDrills(r.Context(), o.Limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if items == nil {
		items = []drill.Drill{}
	}
	out := make([]any, len(items))
	for i, d := range items {
		out[i] = h.drillJSON(h.isCompat(r), d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out, "count": len(items)})
}

// drillBody is RagFlowAuth's drill request; job_id and executed_at_ms are
// decoded by hand for its error codes.
type drillBody struct {
	JobID             json.RawMessage `json:"job_id"`
	BackupPath        *string         `json:"backup_path"`
	BackupHash        *string         `json:"backup_hash"`
	RestoreTarget     *string         `json:"restore_target"`
	VerificationNotes *string         `json:"verification_notes"`
	ExecutedAtMs      json.RawMessage `json:"executed_at_ms"`
	Reason            *string         `json:"reason"`
}

// parseDrill turns the body into a request, with RagFlowAuth's codes for
// what is missing or malformed.
func (h *handler) parseDrill(w http.ResponseWriter, r *http.Request) (drill.Request, error) {
	var req drill.Request
	var body drillBody
	if err := h.decodeObject(w, r, &body); err != nil {
		return req, err
	}
	id, err := jobIDField(body.JobID)
	if err != nil {
		return req, err
	}
	req.JobID = id
	str := trimmed
	req.BackupPath, req.BackupHash, req.RestoreTarget = str(body.BackupPath), str(body.BackupHash), str(body.RestoreTarget)
	switch {
	case req.BackupPath == "":
		return req, reqErr(http.StatusBadRequest, CodeBackupPathRequired, CodeBackupPathRequired+": give the job's output_dir as backup_path")
	case req.BackupHash == "":
		return req, reqErr(http.StatusBadRequest, CodeBackupHashRequired, CodeBackupHashRequired+": give the job's package_hash as backup_hash")
	case req.RestoreTarget == "":
		return req, reqErr(http.StatusBadRequest, CodeRestoreTargetRequired, CodeRestoreTargetRequired+": name the staging folder to restore into (e.g. \"staging\")")
	}
	if req.ExecutedAtMs, err = executedAtField(body.ExecutedAtMs); err != nil {
		return req, err
	}
	if body.VerificationNotes != nil {
		if len(*body.VerificationNotes) > 4000 {
			return req, reqErr(http.StatusBadRequest, CodeInvalidValue, "verification_notes is longer than 4000 bytes")
		}
		req.VerificationNotes = body.VerificationNotes
	}
	req.Reason = str(body.Reason)
	if len(req.Reason) > maxReasonLen {
		return req, reqErr(http.StatusBadRequest, CodeInvalidValue, fmt.Sprintf("reason is %d bytes long; at most %d", len(req.Reason), maxReasonLen))
	}
	req.ExecutedBy = Identity(r.Context())
	return req, nil
}

// jsonInt reads a JSON integer, or a string holding one.
func jsonInt(raw json.RawMessage) (int64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false
		}
		s = strings.TrimSpace(s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func (h *handler) runDrill(w http.ResponseWriter, r *http.Request) {
	req, err := h.parseDrill(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d, err := h.b.(DrillRunner).RunDrill(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.drillJSON(h.isCompat(r), d))
}
