package precheck

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/internal/sentinel"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
)

// Stack resolves the compose project by its label, finds the containers to
// stop, estimates each component's size and says what the pack leaves out.
// It fails for a project that is not there, a service to stop that is not
// in it, an image estimate that fails and a selection that holds nothing;
// it warns about anonymous volumes, bind mounts, untagged images and
// stopped containers.
func (c *Checker) Stack(ctx context.Context) Result {
	b := c.begin(NameStack)
	if c.o.Project == "" {
		b.Skip("precheck.stack.skip")
		return b.Result()
	}
	if c.skipWithoutEngine(b) {
		return b.Result()
	}
	st, err := c.o.Engine.ResolveStack(ctx, c.o.Project)
	if err != nil {
		var pnf *dockerapi.ProjectNotFoundError
		if errors.As(err, &pnf) {
			known := strings.Join(pnf.Known, ", ")
			if known == "" {
				known = "-"
			}
			b.Evidence("known_projects", known)
		}
		b.Fail(err, c.o.Code(err), c.p.T("precheck.stack.not_found", c.o.Project), c.p.T("precheck.stack.not_found.fix"))
		return b.Result()
	}
	c.Facts.Stack = &st
	c.consistencyPlan(ctx, st) // compose.go: the binds it captures are not skipped
	for _, s := range st.Skipped {
		if s.Kind == "bind" && c.capturedBind(s.Container, s.Destination) {
			continue
		}
		c.Facts.Skipped = append(c.Facts.Skipped, pack.SkipEntry{Kind: s.Kind, Source: s.Source, Destination: s.Destination, Container: s.Container, Reason: s.Reason})
	}
	running := c.stackEvidence(b, st)
	c.stopServices(b, st)
	e := c.estimate(ctx, b, st)
	b.OK("precheck.stack.ok", st.Project, len(st.Containers), running, len(st.Images), len(st.Volumes), Bytes(e.Total()))
	hasImages := c.o.has(pack.ComponentImages) && len(st.Images) > 0
	hasVolumes := c.o.has(pack.ComponentVolumes) && len(st.Volumes) > 0
	if !c.o.has(pack.ComponentDB) && !hasImages && !hasVolumes {
		err := fmt.Errorf("%w: project %q has no images or named volumes for the selected components (%s)",
			c.o.ErrNothingToBackUp, st.Project, pack.JoinComponents(c.o.Components))
		b.Fail(err, "nothing_to_back_up", c.p.T("precheck.stack.nothing", st.Project), c.p.T("precheck.stack.nothing.fix"))
	}
	c.stackWarnings(b, st)
	return b.Result()
}

// stackEvidence lists the containers, images and volumes; it returns how
// many containers run.
func (c *Checker) stackEvidence(b *Builder, st dockerapi.Stack) (running int) {
	for _, ct := range st.Containers {
		if ct.Running {
			running++
		}
		b.Evidence("container", fmt.Sprintf("%s  service=%s  %s  image=%s", ct.Name, ct.Service, ct.State, ct.ImageRef))
	}
	for _, im := range st.Images {
		name := strings.Join(dockerapi.RealTags(im.RepoTags), ", ")
		if name == "" {
			name = shortID(im.ID) + " (untagged)"
		}
		b.Evidence("image", fmt.Sprintf("%s  %s", name, Bytes(im.Size)))
	}
	for _, v := range st.Volumes {
		ext := ""
		if v.External {
			ext = "  external"
		}
		b.Evidence("volume", fmt.Sprintf("%s  %s%s", v.Name, Bytes(v.Size), ext))
	}
	return running
}

// stopServices finds the containers stopped around the volume step; a
// service to stop that is not in the project fails the check.
func (c *Checker) stopServices(b *Builder, st dockerapi.Stack) {
	var unknown []string
	switch {
	case c.o.StopAllServices:
		for _, ct := range st.Containers {
			if ct.Running {
				c.Facts.Stop = append(c.Facts.Stop, ct)
			}
		}
	default:
		for _, svc := range c.o.StopServices {
			n := len(c.Facts.Stop)
			for _, ct := range st.Containers {
				if ct.Service == svc {
					c.Facts.Stop = append(c.Facts.Stop, ct)
				}
			}
			if len(c.Facts.Stop) == n {
				unknown = append(unknown, svc)
			}
		}
	}
	var names []string
	for _, ct := range c.Facts.Stop {
		names = append(names, ct.Name)
	}
	if len(names) > 0 {
		b.Evidence("stop", strings.Join(names, ", "))
	}
	if len(unknown) > 0 {
		err := fmt.Errorf("%w: service(s) %s to stop are not in project %q (its services: %s)",
			sentinel.ErrInvalidSpec, strings.Join(unknown, ", "), st.Project, strings.Join(st.Services, ", "))
		b.Fail(err, c.o.Code(err), c.p.T("precheck.stack.stop_unknown", strings.Join(unknown, ", "), st.Project),
			c.p.T("precheck.stack.stop_unknown.fix", strings.Join(st.Services, ", ")))
	}
}

// estimate sizes each selected component (the database from the sqlite
// check) and records the estimate; a failed image estimate fails the check.
func (c *Checker) estimate(ctx context.Context, b *Builder, st dockerapi.Stack) Estimate {
	e := Estimate{VolumeSizes: map[string]int64{}}
	if c.o.has(pack.ComponentDB) && c.Facts.DBSize > 0 {
		e.DB = c.Facts.DBSize
	}
	if c.o.has(pack.ComponentVolumes) {
		for _, v := range st.Volumes {
			e.VolumeSizes[v.Name] = v.Size
			if cp := c.Facts.Consistency; cp != nil && !cp.Exported(v.Name) {
				continue // excluded, or covered by a dump: not written into the pack
			}
			if v.Size > 0 {
				e.Volumes += v.Size
			}
		}
	}
	if c.o.has(pack.ComponentImages) && len(st.Images) > 0 {
		n, err := c.o.Engine.ImagesUniqueBytes(ctx, st.Images)
		if err != nil {
			b.Fail(fmt.Errorf("estimate image sizes: %w", err), "estimate_failed", c.p.T("precheck.stack.estimate_failed"), c.p.T("precheck.stack.estimate_failed.fix"))
		}
		e.Images = n
	}
	if c.o.AdjustEstimate != nil {
		e = c.o.AdjustEstimate(e)
	}
	c.Facts.Estimate = &e
	c.Facts.Required = uint64(float64(e.Total()) * c.o.SpaceMargin)
	b.Evidence("estimate", fmt.Sprintf("%s (db %s, volumes %s, images %s)", Bytes(e.Total()), Bytes(e.DB), Bytes(e.Volumes), Bytes(e.Images)))
	return e
}

// stackWarnings warns about what a pack of this stack leaves out or brings
// back differently: anonymous volumes, bind mounts (but the database's own
// directory), untagged images and containers that do not run.
func (c *Checker) stackWarnings(b *Builder, st dockerapi.Stack) {
	var anon, binds, untagged, stopped []string
	for _, s := range st.Skipped {
		switch s.Kind {
		case "anonymous":
			anon = append(anon, fmt.Sprintf("%s:%s (%s)", s.Container, s.Destination, shortID(s.Source)))
		case "bind":
			what := fmt.Sprintf("%s → %s:%s", s.Source, s.Container, s.Destination)
			if c.o.SQLitePath != "" && pathUnder(c.o.SQLitePath, s.Source) {
				b.Evidence("bind_db", what)
				continue
			}
			if c.capturedBind(s.Container, s.Destination) {
				b.Evidence("bind_captured", what)
				continue
			}
			binds = append(binds, what)
		default:
			b.Evidence("not_in_pack", fmt.Sprintf("%s %s %s:%s", s.Kind, s.Source, s.Container, s.Destination))
		}
	}
	for _, im := range st.Images {
		if len(dockerapi.RealTags(im.RepoTags)) == 0 {
			untagged = append(untagged, shortID(im.ID)+" ← "+strings.Join(im.Containers, ", "))
		}
	}
	for _, ct := range st.Containers {
		if !ct.Running {
			stopped = append(stopped, ct.Name+" ("+ct.State+")")
		}
	}
	for _, w := range []struct {
		key, code string
		items     []string
	}{
		{"anonymous", "anonymous_volumes", anon},
		{"binds", "bind_mounts", binds},
		{"untagged", "untagged_images", untagged},
		{"stopped", "stopped_containers", stopped},
	} {
		if len(w.items) > 0 {
			b.Evidence(w.code, strings.Join(w.items, "; "))
			b.Raise(check.Warn, w.code, c.p.T("precheck.stack."+w.key, len(w.items)), c.p.T("precheck.stack."+w.key+".fix"))
		}
	}
}

// pathUnder reports whether p is dir or inside it.
func pathUnder(p, dir string) bool {
	p, dir = filepath.Clean(p), filepath.Clean(dir)
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

func shortID(id string) string {
	s := strings.TrimPrefix(id, "sha256:")
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
