package jobs

import (
	"context"
	"errors"
	"slices"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/settings"
	"github.com/dockpack/dockpack/dockerapi"
)

// ContainerFinder is an optional Engine interface (*dockerapi.Client
// implements it): it finds containers by name or label in any project, for
// the restore_stop_services setting of a real restore.
type ContainerFinder interface {
	FindContainers(ctx context.Context, sels []dockerapi.ContainerSelector) ([]dockerapi.Container, []dockerapi.ContainerSelector, error)
}

// containersToStop are the running containers a real restore stops: those
// restore_stop_services names (the application holding the database is
// often not in the backed-up project), else the backup's stop list
// (stop_services, or every service with ragflow_stop_services).
func (m *Manager) containersToStop(ctx context.Context, s settings.Settings) ([]dockerapi.Container, error) {
	if len(s.RestoreStopServices) > 0 {
		return m.selectedContainers(ctx, s.RestoreStopServices)
	}
	project := s.RagflowProjectName
	if project == "" {
		project = settings.ComposeProjectName(s.RagflowComposePath)
	}
	if project == "" || (len(s.StopServices) == 0 && !s.RagflowStopServices) {
		return nil, nil
	}
	st, err := m.cfg.Engine.ResolveStack(ctx, project)
	if err != nil {
		return nil, m.refuse("docker_unavailable", true, err, "liverestore.engine", err)
	}
	var out []dockerapi.Container
	for _, c := range st.Containers {
		if c.Running && (s.RagflowStopServices || slices.Contains(s.StopServices, c.Service)) {
			out = append(out, c)
		}
	}
	return out, nil
}

// selectedContainers finds the running containers the selectors name.
func (m *Manager) selectedContainers(ctx context.Context, list []string) ([]dockerapi.Container, error) {
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
		return nil, m.refuse("invalid_restore_stop_services", false, err, "liverestore.selector", err)
	}
	f, ok := m.cfg.Engine.(ContainerFinder)
	if !ok {
		return nil, m.refuse("docker_unavailable", true, nil, "liverestore.engine", "the engine client cannot look containers up by name or label")
	}
	found, unmatched, err := f.FindContainers(ctx, sels)
	if err != nil {
		return nil, m.refuse("docker_unavailable", true, err, "liverestore.engine", err)
	}
	for _, u := range unmatched {
		m.log.Warn("restore_stop_services: no container matches", zap.String("selector", u.String()))
	}
	var out []dockerapi.Container
	for _, c := range found {
		if c.Running && !slices.ContainsFunc(out, func(o dockerapi.Container) bool { return o.ID == c.ID }) {
			out = append(out, c)
		}
	}
	return out, nil
}
