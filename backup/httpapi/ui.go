package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/backup/verifier"
)

// The built-in admin page: plain HTML, CSS and JavaScript embedded in the
// binary (ui/, served at /ui/ without authentication: the files hold no
// data), which calls the native API with the bearer token it asks for once
// (kept in sessionStorage, sent as a header, never in a URL) or with the
// embedding application's own authentication. Its routes are listed in the
// package documentation (doc.go, "The admin page").

// DoctorRunner is an optional Backend interface: when implemented,
// GET /v1/doctor runs the doctor on the Backend's configuration and state.
type DoctorRunner interface {
	doctor.StateSource
	DoctorInputs(ctx context.Context) (jobs.DoctorInputs, error)
}

// PackVerifier verifies packs of the target in the background (POST
// /v1/packs/{name}/verify), followed under /v1/verifications; given as
// Options.Verifier (*verifier.Verifier implements it).
type PackVerifier interface {
	Start(ctx context.Context, req verifier.Request) (verifier.Verification, error)
	Get(ctx context.Context, id string) (verifier.Verification, error)
	List(ctx context.Context) ([]verifier.Verification, error)
	Cancel(ctx context.Context, id, reason string) (verifier.Verification, error)
	Watch(ctx context.Context, id string) (<-chan verifier.Verification, error)
}

// RestorePlanner says what restoring a pack would do (GET
// /v1/packs/{name}/restore-plan): served when Options.Verifier implements
// it (*verifier.Verifier does).
type RestorePlanner interface {
	RestorePlan(ctx context.Context, req verifier.PlanRequest) (*restore.Result, error)
}

// Codes of the admin page's routes.
const (
	CodePackNotFound         = "pack_not_found"
	CodeVerificationNotFound = "verification_not_found"
	CodeInvalidLang          = "invalid_lang"
)

// publicRoutes registers the routes served without authentication (the
// built-in admin page's static files hold no data).
func (h *handler) publicRoutes(root *http.ServeMux) {
	page := uiFiles()
	root.HandleFunc("GET /ui", uiRedirect("ui/"))
	root.Handle("GET /ui/", uiHeaders(http.StripPrefix("/ui", page)))
	root.Handle("GET /ui/i18n/{file}", uiHeaders(http.HandlerFunc(h.uiMessages)))
}

// uiRoutes registers the native routes the built-in admin page needs.
func (h *handler) uiRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /v1/settings/fields", h.settingsFields)
	if _, ok := h.b.(DoctorRunner); ok {
		m.HandleFunc("GET /v1/doctor", h.doctorReport)
	}
	if h.opts.Verifier != nil {
		m.HandleFunc("POST /v1/packs/{name}/verify", h.startVerify)
		m.HandleFunc("GET /v1/verifications", h.listVerifications)
		m.HandleFunc("GET /v1/verifications/{id}", h.getVerification)
		m.HandleFunc("GET /v1/verifications/{id}/events", h.verificationEvents)
		m.HandleFunc("POST /v1/verifications/{id}/cancel", h.cancelVerification)
	}
	if _, ok := h.opts.Verifier.(RestorePlanner); ok {
		m.HandleFunc("GET /v1/packs/{name}/restore-plan", h.restorePlan)
	}
}

// uiFail answers the page's routes: their own not-found sentinels as 404,
// everything else as fail does.
func (h *handler) uiFail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, jobs.ErrPackNotFound):
		err = reqErr(http.StatusNotFound, CodePackNotFound, err.Error())
	case errors.Is(err, verifier.ErrNotFound):
		err = reqErr(http.StatusNotFound, CodeVerificationNotFound, err.Error())
	}
	h.fail(w, r, err)
}
