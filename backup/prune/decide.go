package prune

import (
	"path/filepath"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/internal/i18n"
)

// Codes of Reason.
const (
	ReasonBeyondKeep = "beyond_keep" // a complete pack beyond the Keep newest
	ReasonMaxAge     = "max_age"     // a complete pack older than MaxAge
	ReasonPartial    = "partial"     // a partial directory older than PartialOlderThan
)

// Reason says why a pack is deleted.
type Reason struct {
	Code string `json:"code"`
	// Keep is Options.Keep (ReasonBeyondKeep).
	Keep int `json:"keep,omitempty"`
	// Limit is the age limit passed (ReasonMaxAge, ReasonPartial).
	Limit time.Duration `json:"limit_ns,omitempty"`
}

// Text renders the reason in lang: "beyond the 3 newest", "older than 720h0m0s".
func (r Reason) Text(lang string) string {
	key := "prune.reason." + r.Code
	switch r.Code {
	case ReasonBeyondKeep:
		return i18n.T(lang, key, r.Keep)
	case ReasonMaxAge, ReasonPartial:
		return i18n.T(lang, key, r.Limit.String())
	}
	return r.Code
}

// Decision is what Prune deletes, before it checks the newest pack.
type Decision struct {
	// Delete lists the packs to delete: complete ones newest first, then
	// partial directories.
	Delete []pack.Info
	// Reasons says why, by pack name.
	Reasons map[string]Reason
	// Kept lists the complete packs of the project that stay, newest first.
	Kept []pack.Info
}

// Decide decides which of packs (as List returns them, newest first)
// Run deletes under o at time now; it reads nothing. stillWritten reports
// a partial directory a backup is still writing (nil: none is). See Prune
// for the rules.
func Decide(packs []pack.Info, o Options, now time.Time, stillWritten func(pack.Info) bool) Decision {
	d := Decision{Reasons: map[string]Reason{}, Kept: []pack.Info{}}
	protected := func(p string) bool {
		for _, q := range o.Protect {
			if filepath.Clean(q) == filepath.Clean(p) {
				return true
			}
		}
		return false
	}
	doom := func(p pack.Info, r Reason) {
		d.Delete = append(d.Delete, p)
		d.Reasons[p.Name] = r
	}
	complete := completePacks(packs, o.Project)
	keep, counted := o.policyKeeps(complete)
	for _, p := range complete {
		switch {
		case p.Name == complete[0].Name, !p.CreatedAt.Before(complete[0].CreatedAt), protected(p.Path):
			// the newest complete pack, one as new as it, or protected
			d.Kept = append(d.Kept, p)
		case counted && !keep[p.Name]:
			doom(p, Reason{Code: ReasonBeyondKeep, Keep: o.Keep})
		case o.MaxAge > 0 && now.Sub(p.CreatedAt) > o.MaxAge:
			doom(p, Reason{Code: ReasonMaxAge, Limit: o.MaxAge})
		default:
			d.Kept = append(d.Kept, p)
		}
	}
	if o.PartialOlderThan <= 0 {
		return d
	}
	for _, p := range packs {
		if p.Status != pack.StatusPartial || p.CreatedAt.IsZero() || now.Sub(p.CreatedAt) <= o.PartialOlderThan || protected(p.Path) {
			continue
		}
		if stillWritten != nil && stillWritten(p) {
			continue
		}
		doom(p, Reason{Code: ReasonPartial, Limit: o.PartialOlderThan})
	}
	return d
}

// completePacks are the complete packs of project ("" = any), newest first.
func completePacks(packs []pack.Info, project string) []pack.Info {
	var out []pack.Info
	for _, p := range packs {
		if p.Status == pack.StatusComplete && (project == "" || p.Project == project) {
			out = append(out, p)
		}
	}
	return out
}
