// Package check is the one shape of a verdict in dockpack: a pack's
// verification, a restore drill's report and the doctor's checklist are
// lists of Check. Names and codes are stable machine values; Title, Summary
// and Fix are for people (in the report's language); Detail is the
// underlying error as the library reported it.
package check

import "slices"

// Status is the outcome of one check.
type Status string

// Statuses, from best to worst. Skip (the check's inputs were not given)
// does not count towards a report's verdict; Blocked means the check could
// not run to its end (unreachable pack, unusable staging, …).
const (
	Skip    Status = "skip"
	OK      Status = "ok"
	Warn    Status = "warn"
	Fail    Status = "fail"
	Blocked Status = "blocked"
)

func (s Status) severity() int {
	switch s {
	case OK:
		return 1
	case Warn:
		return 2
	case Blocked:
		return 3
	case Fail:
		return 4
	}
	return 0
}

// Worse returns the worse of s and t (skip < ok < warn < blocked < fail).
func (s Status) Worse(t Status) Status {
	if t.severity() > s.severity() {
		return t
	}
	return s
}

// Evidence is one fact a check saw.
type Evidence struct {
	Key   string `json:"key"`   // stable machine name, e.g. "fstype"
	Label string `json:"label"` // Key in the report's language
	Value string `json:"value"`
}

// Check is the verdict on one thing.
type Check struct {
	// Name identifies the check (stable): "manifest", "volume:<name>",
	// "target", "restore_sqlite", …
	Name string `json:"name"`
	// Title is Name for people, in the report's language (may be empty).
	Title  string `json:"title,omitempty"`
	Status Status `json:"status"`
	// Code names the finding (stable, the same in every language), e.g.
	// "ok", "target_wrong_fstype", "sha256_mismatch".
	Code string `json:"code,omitempty"`
	// Path is the file the check is about, relative to its pack; Kind is
	// that file's kind.
	Path string `json:"path,omitempty"`
	Kind string `json:"kind,omitempty"`
	// Expected and Actual are set when a value differs ("sha256 <hex>", "size <n>").
	Expected string `json:"expected,omitempty"`
	Actual   string `json:"actual,omitempty"`
	// Summary is one line for people, in the report's language.
	Summary string `json:"summary,omitempty"`
	// Detail is the underlying error, or what was checked (English).
	Detail   string     `json:"detail,omitempty"`
	Fix      string     `json:"fix,omitempty"`
	Evidence []Evidence `json:"evidence,omitempty"`
	// DurationMs is how long the check took.
	DurationMs int64 `json:"duration_ms,omitempty"`
}

// OK reports whether the check passed (or was skipped).
func (c Check) OK() bool { return c.Status == OK || c.Status == Skip }

// Worst is the worst status of checks (Skip for none; skipped checks do not count).
func Worst(checks []Check) Status {
	s := Skip
	for _, c := range checks {
		if c.Status != Skip {
			s = s.Worse(c.Status)
		}
	}
	return s
}

// Failed returns the checks that did not pass (warn, blocked and fail).
func Failed(checks []Check) []Check {
	return slices.DeleteFunc(slices.Clone(checks), func(c Check) bool { return c.Status == OK || c.Status == Skip })
}
