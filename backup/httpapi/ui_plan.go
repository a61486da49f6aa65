package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/verifier"
)

// restorePlan serves GET /v1/packs/{name}/restore-plan: what restoring the
// pack would do (restore.Result with "planned": true and the plan), with
// the options of `dockpack restore` as query parameters — project,
// components (comma-separated), sqlite_dest, force, stop_running — and
// lang. Nothing changes; the restore itself is the CLI's (or the API's)
// deliberate action.
func (h *handler) restorePlan(w http.ResponseWriter, r *http.Request) {
	req, err := parsePlanQuery(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := h.opts.Verifier.(RestorePlanner).RestorePlan(r.Context(), req)
	if err != nil {
		h.uiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// parsePlanQuery reads the restore plan's query parameters.
func parsePlanQuery(r *http.Request) (verifier.PlanRequest, error) {
	req := verifier.PlanRequest{Pack: r.PathValue("name")}
	qm, err := parseQuery(r)
	q := url.Values(qm)
	if err != nil {
		return req, err
	}
	if req.Lang, err = queryLang(r); err != nil {
		return req, err
	}
	req.Project = strings.TrimSpace(q.Get("project"))
	req.SQLiteDest = strings.TrimSpace(q.Get("sqlite_dest"))
	if s := strings.TrimSpace(q.Get("components")); s != "" {
		for _, name := range strings.Split(s, ",") {
			c, err := pack.ParseComponent(strings.TrimSpace(name))
			if err != nil {
				return req, err
			}
			if !slices.Contains(req.Components, c) {
				req.Components = append(req.Components, c)
			}
		}
	}
	for name, dst := range map[string]*bool{"force": &req.Force, "stop_running": &req.StopRunning} {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return req, reqErr(http.StatusBadRequest, CodeInvalidQuery, name+" "+truncate(v, 20)+" is not a boolean (true or false)")
			}
			*dst = b
		}
	}
	return req, nil
}
