package precheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/consistency"
	"github.com/dockpack/dockpack/backup/internal/sentinel"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
)

// NameCompose is the check of the compose model against what the pack
// will hold: the services' hooks and dumps, how every named volume is
// captured, the bind mounts, and the order services stop in.
const NameCompose = "compose"

// ErrIncomplete marks a backup refused because the pack would not hold
// the whole compose model (a named volume neither in it, nor covered by a
// dump, nor excluded; with Strict, any mount left out), or because the
// services' consistency labels cannot be followed.
var ErrIncomplete = errors.New("the pack would not be complete")

// VolumeInspector is what the compose check uses, when the engine has it,
// to tell a volume that does not exist from one the stack does not mount
// (*dockerapi.Client has it).
type VolumeInspector interface {
	InspectVolume(ctx context.Context, name string) (dockerapi.Volume, error)
}

// consistencyPlan reads the compose model named by the stack's labels and
// plans how each service is captured (Facts.Consistency). The stack check
// calls it, so that its warnings leave out the bind mounts a pack captures.
func (c *Checker) consistencyPlan(ctx context.Context, st dockerapi.Stack) {
	in := consistency.Input{Stack: st, VolumesSelected: c.o.has(pack.ComponentVolumes), SQLitePath: c.o.SQLitePath,
		BindLimit: c.o.BindLimit, Strict: c.o.Strict}
	in.Model, in.ModelNote, c.modelBroken = c.loadModel(ctx, st)
	if vi, ok := c.o.Engine.(VolumeInspector); ok {
		in.VolumeExists = func(name string) bool {
			_, err := vi.InspectVolume(ctx, name)
			return !errors.Is(err, dockerapi.ErrVolumeNotFound)
		}
	}
	c.Facts.Consistency = consistency.Build(in)
}

// loadModel reads the compose files. A file that is not there is not an
// error (dockpack may run where the project's directory is not, e.g. in
// its own container): the note says so. broken: the files are there but
// do not read.
func (c *Checker) loadModel(ctx context.Context, st dockerapi.Stack) (m *consistency.Model, note string, broken bool) {
	if len(st.ComposeFiles) == 0 {
		return nil, "the containers name no compose file (" + dockerapi.LabelConfigFiles + ")", false
	}
	for _, f := range st.ComposeFiles {
		if _, err := os.Stat(f); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, "the compose file " + f + " is not there where dockpack runs", false
			}
			return nil, fmt.Sprintf("the compose file %s is not readable where dockpack runs: %v", f, err), true
		}
	}
	lctx, cancel := context.WithTimeout(ctx, c.o.CallTimeout)
	defer cancel()
	m, err := consistency.LoadModel(lctx, consistency.ModelOptions{Project: st.Project, Files: st.ComposeFiles, WorkingDir: st.WorkingDir, EnvFiles: st.EnvFiles})
	if err != nil {
		return nil, err.Error(), true
	}
	return m, "", false
}

// Compose reports the consistency plan the stack check made, adds the
// services of StopApps (and their dependents) to the containers to stop
// and orders them dependents first. It fails when the pack would not be
// complete or a label cannot be followed.
func (c *Checker) Compose(ctx context.Context) Result {
	b := c.begin(NameCompose)
	cp := c.Facts.Consistency
	if c.Facts.Stack == nil || cp == nil {
		b.Skip("precheck.compose.skip")
		return b.Result()
	}
	st := *c.Facts.Stack
	c.stopApps(b, st, cp)
	c.orderStop(cp)
	c.composeEvidence(b, cp)
	for _, f := range cp.Problems {
		err := fmt.Errorf("%w: %s", ErrIncomplete, f)
		if f.Code == consistency.CodeLabelInvalid {
			err = fmt.Errorf("%w: %s", sentinel.ErrInvalidSpec, f.Detail)
		}
		b.Fail(err, f.Code, c.p.T("precheck.compose."+f.Code, f.Subject), c.p.T("precheck.compose."+f.Code+".fix"))
	}
	for _, f := range cp.Warnings {
		b.Evidence("warning", f.String())
		b.Raise(check.Warn, f.Code, c.p.T("precheck.compose."+f.Code, f.Subject), c.p.T("precheck.compose."+f.Code+".fix"))
	}
	if c.modelBroken {
		b.Raise(check.Warn, consistency.CodeModelUnread, c.p.T("precheck.compose.model_unreadable"), c.p.T("precheck.compose.model_unreadable.fix"))
	}
	hooks, dumps, exported, byDump, excluded, binds := cp.Counts()
	if cp.ModelNote != "" {
		b.OK("precheck.compose.ok_nomodel", hooks, dumps, binds)
	} else {
		b.OK("precheck.compose.ok", len(cp.Services), hooks, dumps, exported, byDump, excluded, binds)
	}
	return b.Result()
}

// stopApps adds the running containers of each StopApps service and of
// every service depending on it to Facts.Stop.
func (c *Checker) stopApps(b *Builder, st dockerapi.Stack, cp *consistency.Plan) {
	var unknown []string
	for _, app := range c.o.StopApps {
		if _, ok := cp.Service(app); !ok {
			unknown = append(unknown, app)
			continue
		}
		for _, svc := range append([]string{app}, cp.Graph.Dependents(app)...) {
			for _, ct := range st.Containers {
				if ct.Service == svc && ct.Running && !slices.ContainsFunc(c.Facts.Stop, func(s dockerapi.Container) bool { return s.ID == ct.ID }) {
					c.Facts.Stop = append(c.Facts.Stop, ct)
				}
			}
		}
	}
	if len(unknown) > 0 {
		err := fmt.Errorf("%w: service(s) %s to stop (with their dependents) are not in project %q (its services: %s)",
			sentinel.ErrInvalidSpec, strings.Join(unknown, ", "), st.Project, strings.Join(st.Services, ", "))
		b.Fail(err, c.o.Code(err), c.p.T("precheck.stack.stop_unknown", strings.Join(unknown, ", "), st.Project),
			c.p.T("precheck.stack.stop_unknown.fix", strings.Join(st.Services, ", ")))
	}
}

// orderStop sorts Facts.Stop dependents first (by service), then by name.
func (c *Checker) orderStop(cp *consistency.Plan) {
	var svcs []string
	for _, ct := range c.Facts.Stop {
		svcs = append(svcs, ct.Service)
	}
	rank := map[string]int{}
	for i, s := range cp.Graph.StopOrder(svcs) {
		rank[s] = i
	}
	sort.SliceStable(c.Facts.Stop, func(i, j int) bool {
		a, b := c.Facts.Stop[i], c.Facts.Stop[j]
		if rank[a.Service] != rank[b.Service] {
			return rank[a.Service] < rank[b.Service]
		}
		return a.Name < b.Name
	})
}

// composeEvidence lists the model, the services' labels, each volume's
// capture, the binds and the stop order.
func (c *Checker) composeEvidence(b *Builder, cp *consistency.Plan) {
	if cp.ModelNote != "" {
		b.Evidence("model", cp.ModelNote)
	} else {
		b.Evidence("compose_files", strings.Join(cp.ComposeFiles, ", "))
	}
	if len(cp.Profiles) > 0 {
		b.Evidence("profiles", strings.Join(cp.Profiles, ", "))
	}
	for _, s := range cp.Services {
		if d := serviceLine(s); d != "" {
			b.Evidence("service", d)
		}
	}
	for _, v := range cp.Volumes {
		line := fmt.Sprintf("%s (%s): %s", v.Name, firstNonEmpty(v.Service, "-"), v.Capture)
		if v.Reason != "" {
			line += ": " + v.Reason
		}
		b.Evidence("volume_capture", line)
	}
	for _, bp := range cp.Binds {
		line := fmt.Sprintf("%s → %s:%s: %s", bp.Source, bp.Container, bp.Destination, bp.Code)
		if bp.Captured() {
			line += " (" + Bytes(bp.Size) + ", " + bp.File + ")"
		} else if bp.Detail != "" {
			line += " (" + bp.Detail + ")"
		}
		b.Evidence("bind", line)
	}
	if len(c.Facts.Stop) > 0 {
		var names []string
		for _, ct := range c.Facts.Stop {
			names = append(names, ct.Name)
		}
		b.Evidence("stop_order", strings.Join(names, " → "))
	}
}

// serviceLine describes a service's labels ("" when it has none).
func serviceLine(s consistency.ServicePlan) string {
	cfg := s.Config
	var parts []string
	if cfg.Preset != "" {
		parts = append(parts, "preset "+cfg.Preset)
	}
	if cfg.HasHooks() {
		parts = append(parts, fmt.Sprintf("hooks pre %d/post %d (timeout %s, on error %s)", btoi(len(cfg.Pre) > 0), btoi(len(cfg.Post) > 0), cfg.HookTimeout, cfg.OnError))
	}
	if cfg.HasDump() {
		parts = append(parts, "dump → "+cfg.DumpFile())
	}
	if cfg.ExcludeVolumes {
		parts = append(parts, "volumes excluded")
	}
	if len(s.DependsOn) > 0 {
		parts = append(parts, "depends on "+strings.Join(s.DependsOn, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	return s.Name + ": " + strings.Join(parts, "; ")
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// capturedBind reports whether the plan captures the bind of container at dest.
func (c *Checker) capturedBind(container, dest string) bool {
	if c.Facts.Consistency == nil {
		return false
	}
	for _, bp := range c.Facts.Consistency.Binds {
		if bp.Captured() && bp.Destination == dest && (bp.Container == container || c.sameService(bp.Container, container)) {
			return true
		}
	}
	return false
}

// sameService reports whether two containers of the stack belong to one service.
func (c *Checker) sameService(a, b string) bool {
	svc := map[string]string{}
	for _, ct := range c.Facts.Stack.Containers {
		svc[ct.Name] = ct.Service
	}
	return svc[a] != "" && svc[a] == svc[b]
}
