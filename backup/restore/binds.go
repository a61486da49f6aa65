package restore

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/dockpack/dockpack/backup/consistency"
	"github.com/dockpack/dockpack/backup/progress"
	"go.uber.org/zap"
)

// BindPlan is one bind mount of the pack restored on request (Spec.Binds
// or Spec.BindsRoot).
type BindPlan struct {
	Service     string `json:"service"`
	Source      string `json:"source"` // where it was bind-mounted from
	Dest        string `json:"dest"`   // where it is restored
	Type        string `json:"type"`
	File        string `json:"file"`
	Size        int64  `json:"size"`
	Action      string `json:"action"` // create | replace | refuse
	Reason      string `json:"reason,omitempty"`
	ReasonCode  string `json:"reason_code,omitempty"`
	Destination string `json:"destination"` // in the container
}

// ReasonBindExists: a bind's destination holds data (no Force).
const ReasonBindExists = "bind_exists"

// bindsWanted reports whether the spec asks for the pack's bind mounts.
func (s *Spec) bindsWanted() bool { return s.Binds || s.BindsRoot != "" }

// bindDest is where a bind is restored: its source path, under BindsRoot when set.
func (s *Spec) bindDest(source string) string {
	if s.BindsRoot == "" {
		return filepath.Clean(source)
	}
	return filepath.Join(s.BindsRoot, filepath.Clean("/"+source))
}

// binds plans the pack's bind mounts: restored when asked, refused over a
// destination that holds data unless Force.
func (pl *planner) binds() error {
	c := pl.m.Consistency
	if c == nil || len(c.Binds) == 0 {
		return nil
	}
	if !pl.spec.bindsWanted() {
		pl.note("restore.note.binds_skipped")
		return nil
	}
	for _, b := range c.Binds {
		fe, _ := pl.m.File(b.File)
		bp := BindPlan{Service: b.Service, Source: b.Source, Dest: pl.spec.bindDest(b.Source), Type: b.Type, File: b.File, Size: b.Size,
			Destination: b.Destination, Action: ActionCreate}
		has, err := consistency.BindDestHoldsData(bp.Dest)
		switch {
		case err != nil:
			return fmt.Errorf("restore plan: bind mount %s: %w", bp.Dest, err)
		case has && !pl.spec.Force:
			bp.Action, bp.ReasonCode, bp.Reason = ActionRefuse, ReasonBindExists, pl.t.T("restore.reason.bind_exists", bp.Dest)
			pl.problem("restore.problem.bind", bp.Dest, bp.Reason)
		case has:
			bp.Action = ActionReplace
		}
		if bp.Action != ActionRefuse {
			pl.p.Bytes += fe.Size
		}
		pl.p.Binds = append(pl.p.Binds, bp)
	}
	return nil
}

// restoreBinds writes each planned bind mount (checked while it streams).
func (r *restorer) restoreBinds(ctx context.Context) error {
	for _, bp := range r.plan.Binds {
		if bp.Action == ActionRefuse {
			continue
		}
		fe, _ := r.m.File(bp.File)
		r.trk.Begin(progress.StepVolumes, bp.Dest, fe.Size, r.t.T("restore.progress.binds", bp.Dest))
		rd, done, err := r.openChecked(ctx, progress.StepVolumes, bp.Dest, fe)
		if err != nil {
			return &StepError{Step: progress.StepVolumes, Item: bp.Dest, Err: err}
		}
		err = consistency.ExtractBind(ctx, rd, bp.Type, bp.Dest, r.spec.Force)
		done()
		if err != nil {
			return &StepError{Step: progress.StepVolumes, Item: bp.Dest, Err: err}
		}
		r.res.Bytes += fe.Size
		r.log.Info("bind mount restored", zap.String("source", bp.Source), zap.String("dest", bp.Dest), zap.String("type", bp.Type))
	}
	return nil
}

// nextSteps are what the operator does after a restore, in its language:
// start the stack and load the dumps; restore the bind mounts.
func (r *restorer) nextSteps() []string {
	c := r.m.Consistency
	if c == nil {
		return []string{}
	}
	out := []string{}
	for _, s := range c.Services {
		if s.Dump != nil {
			out = append(out, r.t.T("restore.next.dumps", r.plan.Project, r.dir))
			break
		}
	}
	if len(c.Binds) > 0 && !r.spec.bindsWanted() {
		out = append(out, r.t.T("restore.next.binds", len(c.Binds)))
	}
	return out
}
