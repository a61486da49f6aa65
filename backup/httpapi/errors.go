package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/seal"
)

// Error codes the handler produces itself (the Backend's errors map to the
// codes of their sentinels, see classify).
const (
	CodeUnauthorized     = "unauthorized"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeBodyTooLarge     = "body_too_large"
	CodeInvalidJSON      = "invalid_json"
	CodeUnknownField     = "unknown_field"
	CodeReadOnlyField    = "read_only_field"
	CodeInvalidValue     = "invalid_value"
	CodeInvalidJobID     = "invalid_job_id"
	CodeInvalidLimit     = "invalid_limit"
	CodeInvalidStatus    = "invalid_status"
	CodeInvalidQuery     = "invalid_query"
	CodeChangeReason     = "change_reason_required"
	CodeInvalidSpec      = "invalid_spec"
	CodeInvalidSettings  = "invalid_settings"
	CodeJobNotActive     = "job_not_active"
	CodeUnavailable      = "manager_closed"
	CodeNotImplemented   = "not_implemented"
	CodeInternal         = "internal_error"
	// Encryption at rest (backup/seal): unusable keys; a run that would
	// write plaintext where encryption is asked for, or seal through a
	// writer that cannot; a sealed pack and no (or the wrong) identity.
	CodeInvalidEncryption = "invalid_encryption"
	CodePlaintextRefused  = "plaintext_refused"
	CodeAgeIdentity       = "age_identity"
	CodeNamingKey         = "naming_key"
)

// Error is an HTTP answer the handler gives for a request it refuses. The
// handler makes them for problems it finds itself (decoding, ids, auth); the
// Backend's errors are mapped by classify.
type Error struct {
	Status int    // HTTP status
	Code   string // stable machine code ("invalid_job_id", "setting_pinned:enabled", …)
	Detail string // what is wrong and what to do
	JobID  int64  // the job holding the lock, on a 409 busy
	// Sentence: Detail is a sentence for people (in Options.Lang) that the
	// compat format shows as it is, without the code.
	Sentence bool
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return e.Code
	}
	return e.Code + ": " + e.Detail
}

func reqErr(status int, code, detail string) *Error {
	return &Error{Status: status, Code: code, Detail: detail}
}

// classify maps any error to the HTTP answer. It is the one place errors
// become statuses: the Backend's sentinels to 4xx/503, the handler's own
// *Error as they are, and anything else to 500 (which therefore never
// answers a client's mistake: every client mistake is found before the
// Backend is called or reported by it as a sentinel).
func classify(err error) *Error {
	var (
		he     *Error
		re     *jobs.RestoreError
		busy   *jobs.BusyError
		pinned *jobs.PinnedError
		mbe    *http.MaxBytesError
	)
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &re):
		return restoreError(re)
	case errors.As(err, &busy):
		return &Error{Status: http.StatusConflict, Code: jobs.ErrBusy.Error(), Detail: err.Error(), JobID: busy.JobID}
	case errors.Is(err, jobs.ErrBusy):
		return &Error{Status: http.StatusConflict, Code: jobs.ErrBusy.Error(), Detail: err.Error()}
	case errors.Is(err, jobs.ErrJobNotFound):
		return &Error{Status: http.StatusNotFound, Code: jobs.ErrJobNotFound.Error(), Detail: err.Error()}
	case errors.As(err, &pinned):
		return &Error{Status: http.StatusConflict, Code: jobs.ErrSettingPinned.Error() + ":" + pinned.Field, Detail: err.Error()}
	case errors.Is(err, jobs.ErrSettingPinned):
		return &Error{Status: http.StatusConflict, Code: jobs.ErrSettingPinned.Error(), Detail: err.Error()}
	case errors.Is(err, backup.ErrInvalidSpec):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidSpec, Detail: trimSentinel(err, backup.ErrInvalidSpec)}
	case errors.Is(err, seal.ErrInvalidConfig), errors.Is(err, seal.ErrBadRecipient), errors.Is(err, seal.ErrBadIdentity), errors.Is(err, seal.ErrPassphraseAlone):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidEncryption, Detail: err.Error()}
	case errors.Is(err, seal.ErrPlaintextRefused), errors.Is(err, seal.ErrNotWired):
		return &Error{Status: http.StatusBadRequest, Code: CodePlaintextRefused, Detail: err.Error()}
	case errors.Is(err, seal.ErrNoIdentity), errors.Is(err, seal.ErrWrongIdentity):
		return &Error{Status: http.StatusConflict, Code: CodeAgeIdentity, Detail: err.Error()}
	case errors.Is(err, seal.ErrNamingKey), errors.Is(err, seal.ErrNamingKeyExists):
		return &Error{Status: http.StatusBadRequest, Code: CodeNamingKey, Detail: err.Error()}
	case errors.Is(err, jobs.ErrInvalidSettings):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidSettings, Detail: trimSentinel(err, jobs.ErrInvalidSettings)}
	case errors.Is(err, jobs.ErrJobNotActive):
		return &Error{Status: http.StatusConflict, Code: CodeJobNotActive, Detail: err.Error()}
	case errors.Is(err, jobs.ErrTargetMissing):
		return &Error{Status: http.StatusConflict, Code: jobs.ErrTargetMissing.Error(), Detail: err.Error()}
	case errors.Is(err, jobs.ErrClosed):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Detail: "the backup manager is shutting down: " + err.Error()}
	case errors.As(err, &mbe):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge,
			Detail: "the request body is larger than the limit of " + itoa(mbe.Limit) + " bytes"}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Detail: err.Error()}
}

// restoreError is a refused real restore: 409 when it cannot run now, else
// 400; the detail starts with its code (RagFlowAuth's page shows a
// restore's error as it is).
func restoreError(re *jobs.RestoreError) *Error {
	e := &Error{Status: http.StatusBadRequest, Code: re.Code, Detail: re.Error()}
	if re.Conflict {
		e.Status = http.StatusConflict
	}
	var busy *jobs.BusyError
	if errors.As(re, &busy) {
		e.JobID = busy.JobID
	}
	return e
}

// trimSentinel drops the sentinel's text from the front of err's message:
// the Manager words its refusals "<sentinel>: <ragflowauth_code>: <why>",
// and the detail should start with the RagFlowAuth code
// ("local_backup_target_not_configured: ...").
func trimSentinel(err, sentinel error) string {
	return strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
}

// nativeBody is the native API's error JSON.
type nativeBody struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
	JobID  *int64 `json:"job_id,omitempty"`
}

// compatBody is RagFlowAuth's error JSON.
type compatBody struct {
	Detail string `json:"detail"`
	JobID  *int64 `json:"job_id,omitempty"`
}

// compatDetail is the compat "detail": the bare code for the codes
// RagFlowAuth's frontend knows by their exact string, the Backend's message
// for its refusals (it starts with RagFlowAuth's code), else "code: message".
func compatDetail(e *Error) string {
	switch {
	case e.Sentence && e.Detail != "":
		return e.Detail
	case e.Code == jobs.ErrBusy.Error(), e.Code == jobs.ErrJobNotFound.Error(), e.Code == CodeChangeReason,
		e.Code == CodeUnauthorized, e.Code == CodeAdminRequired, e.Code == CodeInvalidJobID, strings.HasPrefix(e.Code, jobs.ErrSettingPinned.Error()):
		return e.Code
	case e.Detail == "":
		return e.Code
	case e.Code == CodeInvalidSpec, e.Code == CodeInvalidSettings:
		return e.Detail // the Backend's own code leads it
	case strings.HasPrefix(e.Detail, e.Code):
		return e.Detail
	}
	return e.Code + ": " + e.Detail
}

// fail answers r with err, in the compat or native format depending on the
// route, and logs server-side failures.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if ctxErr := r.Context().Err(); ctxErr != nil && errors.Is(err, context.Canceled) {
		// The client went away; nobody reads an answer.
		return
	}
	e := classify(err)
	if e.Status >= 500 {
		h.log.Error("request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path),
			zap.Int("status", e.Status), zap.String("code", e.Code), zap.Error(err))
	}
	var jobID *int64
	if e.JobID != 0 {
		id := e.JobID
		jobID = &id
	}
	if e.Status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dockpack"`)
	}
	if h.isCompat(r) {
		writeJSON(w, e.Status, compatBody{Detail: compatDetail(e), JobID: jobID})
		return
	}
	writeJSON(w, e.Status, nativeBody{Error: e.Code, Detail: e.Detail, JobID: jobID})
}
