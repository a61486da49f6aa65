package httpapi

import (
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/drill"
)

// The RagFlowAuth page's drill JSON: the same fields as the native API's,
// but the checks of verification_report carry RagFlowAuth's statuses
// (passed | failed | skipped | blocked) instead of check.Status.

type compatCheck struct {
	check.Check
	Status string `json:"status"`
}

type compatReport struct {
	drill.Report
	Checks []compatCheck `json:"checks"`
}

type compatDrill struct {
	drill.Drill
	VerificationReport compatReport `json:"verification_report"`
}

// compatStatus maps a check status to RagFlowAuth's word for it.
var compatStatus = map[check.Status]string{
	check.OK: "passed", check.Fail: "failed", check.Skip: "skipped", check.Blocked: "blocked", check.Warn: "passed",
}

func compatDrillOf(d drill.Drill) compatDrill {
	out := compatDrill{Drill: d, VerificationReport: compatReport{Report: d.VerificationReport, Checks: []compatCheck{}}}
	for _, c := range d.VerificationReport.Checks {
		out.VerificationReport.Checks = append(out.VerificationReport.Checks, compatCheck{Check: c, Status: compatStatus[c.Status]})
	}
	return out
}

// drillJSON is a drill as the route's client reads it.
func (h *handler) drillJSON(compat bool, d drill.Drill) any {
	if compat {
		return compatDrillOf(d)
	}
	return d
}
