package restore

import (
	"context"
	"errors"
	"slices"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/dockerapi"
)

// StopList says which running containers a live restore stops: those
// Selectors name (container names or labels, in any project: the
// application holding the database is often not in the backed-up
// project) when given, else Project's services named in Services (every
// service with All); none without a project.
type StopList struct {
	Selectors []string
	Project   string
	Services  []string
	All       bool
}

// ContainerFinder is an optional LiveEngine interface (*dockerapi.Client
// implements it): it finds containers by name or label in any project, for
// StopList.Selectors.
type ContainerFinder interface {
	FindContainers(ctx context.Context, sels []dockerapi.ContainerSelector) ([]dockerapi.Container, []dockerapi.ContainerSelector, error)
}

// containersToStop are the running containers sl names.
func containersToStop(ctx context.Context, l *liveRestorer, sl StopList) ([]dockerapi.Container, error) {
	if len(sl.Selectors) > 0 {
		return l.selectedContainers(ctx, sl.Selectors)
	}
	if sl.Project == "" || (len(sl.Services) == 0 && !sl.All) {
		return nil, nil
	}
	st, err := l.s.Engine.ResolveStack(ctx, sl.Project)
	if err != nil {
		return nil, l.refuse(ctx, "docker_unavailable", true, err, "liverestore.engine", err)
	}
	var out []dockerapi.Container
	for _, c := range st.Containers {
		if c.Running && (sl.All || slices.Contains(sl.Services, c.Service)) {
			out = append(out, c)
		}
	}
	return out, nil
}

// selectedContainers finds the running containers the selectors name.
func (l *liveRestorer) selectedContainers(ctx context.Context, list []string) ([]dockerapi.Container, error) {
	var sels []dockerapi.ContainerSelector
	var bad []error
	for _, s := range list {
		sel, err := dockerapi.ParseContainerSelector(s)
		if err != nil {
			bad = append(bad, err)
			continue
		}
		sels = append(sels, sel)
	}
	if err := errors.Join(bad...); err != nil {
		return nil, l.refuse(ctx, "invalid_restore_stop_services", false, err, "liverestore.selector", err)
	}
	f, ok := l.s.Engine.(ContainerFinder)
	if !ok {
		return nil, l.refuse(ctx, "docker_unavailable", true, nil, "liverestore.engine", "the engine client cannot look containers up by name or label")
	}
	found, unmatched, err := f.FindContainers(ctx, sels)
	if err != nil {
		return nil, l.refuse(ctx, "docker_unavailable", true, err, "liverestore.engine", err)
	}
	for _, u := range unmatched {
		l.s.Logger.Warn("restore_stop_services: no container matches", zap.String("selector", u.String()))
	}
	var out []dockerapi.Container
	for _, c := range found {
		if c.Running && !slices.ContainsFunc(out, func(o dockerapi.Container) bool { return o.ID == c.ID }) {
			out = append(out, c)
		}
	}
	return out, nil
}
