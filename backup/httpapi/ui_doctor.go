package httpapi

import (
	"net/http"
	"net/url"

	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/internal/i18n"
)

// queryLang reads ?lang= (a supported language, normalized; "" when absent).
func queryLang(r *http.Request) (string, error) {
	qm, err := parseQuery(r)
	q := url.Values(qm)
	if err != nil {
		return "", err
	}
	raw := q.Get("lang")
	if raw == "" {
		return "", nil
	}
	lang, ok := i18n.Normalize(raw)
	if !ok {
		return "", reqErr(http.StatusBadRequest, CodeInvalidLang, "lang "+truncate(raw, 40)+" is not a supported language (en or zh-CN)")
	}
	return lang, nil
}

// doctorReport serves GET /v1/doctor: the doctor run now on the Backend's
// engine, configuration and state, in ?lang= (default English). Its checks
// carry their verdict, evidence and fix; the answer is 200 whatever the
// verdict (the verdict is data, not an error of the request).
func (h *handler) doctorReport(w http.ResponseWriter, r *http.Request) {
	lang, err := queryLang(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	src := h.b.(DoctorRunner)
	in, err := src.DoctorInputs(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	o := doctor.Options{Project: in.Project, Target: in.Target, Policy: in.Policy, StagingDir: in.StagingDir,
		SQLitePath: in.SQLitePath, Components: in.Components, State: src, StateDesc: in.StateDesc, Lang: lang,
		RequireEncryption: in.RequireEncryption}
	if in.AgeIdentityFile != "" {
		o.AgeIdentityFiles = []string{in.AgeIdentityFile}
	}
	if in.AgeRecipientsFile != "" {
		o.AgeRecipientsFiles = []string{in.AgeRecipientsFile}
	}
	if in.Engine != nil {
		o.Engine = in.Engine
	}
	rep, err := doctor.Run(r.Context(), o)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
