package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/dockpack/dockpack/backup/jobs"
)

// LiveRestorer is an optional Backend interface: when implemented (as
// *jobs.Manager does), real restores of the live database are served —
//
//	POST {CompatPrefix}/restore/run, POST /v1/restores   restore a job's database into the live path → the restore
//	GET  /v1/restores                                    {"items": [...], "count": n}, newest first, ?limit= 1–200
//
// The body is RagFlowAuth's: {job_id, backup_path, backup_hash,
// change_reason, confirmation_text: "RESTORE"}. The restore holds the
// backup lock (409 while a backup runs), stops the containers holding the
// database, keeps the replaced database beside it and starts them again.
type LiveRestorer interface {
	RunLiveRestore(ctx context.Context, req jobs.LiveRestoreRequest) (jobs.LiveRestore, error)
	ListLiveRestores(ctx context.Context, limit int) ([]jobs.LiveRestore, error)
}

// restoreRoutes registers the real-restore routes when the Backend runs them.
func (h *handler) restoreRoutes(m *http.ServeMux, compatPrefix string) {
	if _, ok := h.b.(LiveRestorer); !ok {
		return
	}
	m.HandleFunc("POST /v1/restores", h.runRestore)
	m.HandleFunc("GET /v1/restores", h.listRestores)
	if compatPrefix != "" && !h.extraServes(compatPrefix+"/restore/run") {
		m.HandleFunc("POST "+compatPrefix+"/restore/run", h.runRestore)
	}
}

// restoreBody is the body of a real restore; job_id and executed_at_ms are
// decoded by hand (an integer or a string holding one).
type restoreBody struct {
	JobID            json.RawMessage `json:"job_id"`
	BackupPath       *string         `json:"backup_path"`
	BackupHash       *string         `json:"backup_hash"`
	ChangeReason     *string         `json:"change_reason"`
	ConfirmationText *string         `json:"confirmation_text"`
	ExecutedAtMs     json.RawMessage `json:"executed_at_ms"`
}

// parseRestore turns the body into a request; the Backend checks the rest
// (with RagFlowAuth's codes).
func (h *handler) parseRestore(w http.ResponseWriter, r *http.Request) (jobs.LiveRestoreRequest, error) {
	var req jobs.LiveRestoreRequest
	var body restoreBody
	if err := h.decodeObject(w, r, &body); err != nil {
		return req, err
	}
	id, err := jobIDField(body.JobID)
	if err != nil {
		return req, err
	}
	str := trimmed
	req.JobID, req.BackupPath, req.BackupHash = id, str(body.BackupPath), str(body.BackupHash)
	req.ChangeReason, req.ConfirmationText = str(body.ChangeReason), str(body.ConfirmationText)
	if len(req.ChangeReason) > maxReasonLen {
		return req, reqErr(http.StatusBadRequest, CodeInvalidValue, fmt.Sprintf("change_reason is %d bytes long; at most %d are kept", len(req.ChangeReason), maxReasonLen))
	}
	if req.ExecutedAtMs, err = executedAtField(body.ExecutedAtMs); err != nil {
		return req, err
	}
	req.ExecutedBy = Identity(r.Context())
	return req, nil
}

func (h *handler) runRestore(w http.ResponseWriter, r *http.Request) {
	req, err := h.parseRestore(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	lr, err := h.b.(LiveRestorer).RunLiveRestore(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, lr)
}

func (h *handler) listRestores(w http.ResponseWriter, r *http.Request) {
	o, err := parseListOptions(r, false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	items, err := h.b.(LiveRestorer).ListLiveRestores(r.Context(), o.Limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if items == nil {
		items = []jobs.LiveRestore{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "count": len(items)})
}
