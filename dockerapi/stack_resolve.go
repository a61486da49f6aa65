package dockerapi

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"go.uber.org/zap"
)

// ResolveStack finds everything of a compose project by its label: the
// containers in all states (names are never parsed, so compose v1 `_` and v2
// `-` names are alike), their services and images, the named volumes that
// carry the project label or are mounted by its containers, and the mounts
// that a backup skips. A project with neither containers nor volumes is a
// *ProjectNotFoundError listing the projects the engine knows.
func (c *Client) ResolveStack(ctx context.Context, project string) (Stack, error) {
	if strings.TrimSpace(project) == "" {
		return Stack{}, fmt.Errorf("%w: empty compose project name", ErrInvalidArgument)
	}
	f := filters.NewArgs(filters.Arg("label", LabelProject+"="+project))
	list, err := c.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return Stack{}, c.engineErr(fmt.Sprintf("list containers of project %q", project), err, nil)
	}
	vlist, err := c.cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return Stack{}, c.engineErr(fmt.Sprintf("list volumes of project %q", project), err, nil)
	}
	if len(list) == 0 && len(vlist.Volumes) == 0 {
		return Stack{}, c.projectNotFound(ctx, project)
	}

	r := &stackResolver{c: c, st: Stack{Project: project}, volumes: map[string]*volume.Volume{}, services: map[string]bool{}}
	for _, v := range vlist.Volumes {
		r.volumes[v.Name] = v
	}
	for _, sum := range list {
		if err := r.addContainer(ctx, sum.ID); err != nil {
			return Stack{}, err
		}
	}
	if len(r.st.Containers) == 0 && len(r.volumes) == 0 {
		return Stack{}, c.projectNotFound(ctx, project)
	}
	r.sortContainers()
	if err := r.addImages(ctx); err != nil {
		return Stack{}, err
	}
	if err := r.addVolumes(ctx); err != nil {
		return Stack{}, err
	}
	st := r.st
	c.log.Debug("stack resolved", zap.String("project", project), zap.Int("containers", len(st.Containers)),
		zap.Int("images", len(st.Images)), zap.Int("volumes", len(st.Volumes)), zap.Int("skipped", len(st.Skipped)))
	return st, nil
}

// projectNotFound is the *ProjectNotFoundError for project, listing the
// projects the engine knows (or the error listing them).
func (c *Client) projectNotFound(ctx context.Context, project string) error {
	known, err := c.KnownProjects(ctx)
	if err != nil {
		return err
	}
	return &ProjectNotFoundError{Project: project, Known: known}
}

// stackResolver gathers a Stack while ResolveStack walks the project's
// containers, then their images and the named volumes.
type stackResolver struct {
	c        *Client
	st       Stack
	volumes  map[string]*volume.Volume // named volumes of the stack
	services map[string]bool
}

// Reasons a mount is skipped.
const (
	reasonAnonymous = "anonymous volume: it has no stable name to restore to (compose recreates it empty); give it a name in the compose file to back it up"
	reasonBind      = "bind mount: a host directory the engine does not manage; back it up with the host's files"
	reasonTmpfs     = "tmpfs mount: memory only, nothing persists"
)

// addContainer inspects the container id and adds it, its compose labels
// and its mounts; a container removed since the list is left out.
func (r *stackResolver) addContainer(ctx context.Context, id string) error {
	ctr, err := r.c.cli.ContainerInspect(ctx, id)
	if err != nil {
		// a container removed between list and inspect is no longer part of the stack
		if ctx.Err() == nil && isNotFound(err) {
			r.c.log.Debug("container vanished while resolving", zap.String("id", id))
			return nil
		}
		return r.c.engineErr("inspect container "+id, err, ErrContainerNotFound)
	}
	ct := containerFromInspect(ctr)
	r.services[ct.Service] = true
	r.st.ComposeFiles = appendUnique(r.st.ComposeFiles, splitList(ct.Labels[LabelConfigFiles])...)
	r.st.EnvFiles = appendUnique(r.st.EnvFiles, splitList(ct.Labels[LabelEnvFile])...)
	if r.st.WorkingDir == "" {
		r.st.WorkingDir = ct.Labels[LabelWorkingDir]
	}
	for _, m := range ct.Mounts {
		if err := r.addMount(ctx, ct, m); err != nil {
			return err
		}
	}
	if ctr.HostConfig != nil { // --tmpfs mounts are not listed in Mounts
		for _, dest := range sortedKeys(ctr.HostConfig.Tmpfs) {
			if !hasMountAt(ct.Mounts, dest) {
				r.skip(Skipped{Kind: "tmpfs", Destination: dest, Container: ct.Name, Reason: reasonTmpfs})
			}
		}
	}
	r.st.Containers = append(r.st.Containers, ct)
	return nil
}

// addMount adds the named volume m mounts to the stack's volumes, or m to
// the skipped mounts.
func (r *stackResolver) addMount(ctx context.Context, ct Container, m Mount) error {
	switch m.Type {
	case string(mount.TypeVolume):
		v, ok := r.volumes[m.Name]
		if !ok {
			vv, err := r.c.cli.VolumeInspect(ctx, m.Name)
			if err != nil {
				return r.c.engineErr(fmt.Sprintf("inspect volume %q mounted by %s", m.Name, ct.Name), err, ErrVolumeNotFound)
			}
			v = &vv
		}
		if isAnonymousVolume(v.Name, v.Labels, r.st.Project) {
			r.skip(Skipped{Kind: "anonymous", Source: m.Name, Destination: m.Destination, Container: ct.Name, Reason: reasonAnonymous})
			return nil
		}
		r.volumes[v.Name] = v
	case string(mount.TypeBind):
		r.skip(Skipped{Kind: "bind", Source: m.Source, Destination: m.Destination, Container: ct.Name, Reason: reasonBind})
	case string(mount.TypeTmpfs):
		r.skip(Skipped{Kind: "tmpfs", Destination: m.Destination, Container: ct.Name, Reason: reasonTmpfs})
	default:
		r.skip(Skipped{Kind: m.Type, Source: firstNonEmpty(m.Name, m.Source), Destination: m.Destination, Container: ct.Name,
			Reason: "mount type " + m.Type + " is not backed up"})
	}
	return nil
}

func (r *stackResolver) skip(s Skipped) { r.st.Skipped = append(r.st.Skipped, s) }

// sortContainers sorts the containers by service, then name, and sets the
// stack's services.
func (r *stackResolver) sortContainers() {
	sort.SliceStable(r.st.Containers, func(i, j int) bool {
		a, b := r.st.Containers[i], r.st.Containers[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		return a.Name < b.Name
	})
	delete(r.services, "")
	r.st.Services = sortedKeys(r.services)
}

// addImages inspects the containers' images, de-duplicated by ID, in
// container order, then sorts them by SaveRef. An image the engine no
// longer has is skipped.
func (r *stackResolver) addImages(ctx context.Context) error {
	byID := map[string]*Image{}
	var order []string
	for _, ct := range r.st.Containers {
		if im, ok := byID[ct.ImageID]; ok {
			if im != nil {
				im.Containers = append(im.Containers, ct.Name)
			}
			continue
		}
		ii, err := r.c.cli.ImageInspect(ctx, ct.ImageID)
		if isNotFound(err) {
			// `docker rmi -f` can delete an image a stopped container still
			// names. There is nothing to save; say so instead of failing.
			r.skip(Skipped{Kind: "image", Source: firstNonEmpty(ct.ImageRef, ct.ImageID), Container: ct.Name,
				Reason: "the container's image " + ct.ImageID + " no longer exists on the engine; rebuild or pull it on the new host"})
			byID[ct.ImageID] = nil
			continue
		}
		if err != nil {
			return r.c.engineErr(fmt.Sprintf("inspect image %s (%s) of container %s", ct.ImageID, ct.ImageRef, ct.Name), err, ErrImageNotFound)
		}
		byID[ct.ImageID] = &Image{ID: ii.ID, RepoTags: orderTags(ii.RepoTags, ct.ImageRef), RepoDigests: ii.RepoDigests, Size: ii.Size,
			Layers: ii.RootFS.Layers, Containers: []string{ct.Name}, OS: ii.Os, Arch: ii.Architecture, Variant: ii.Variant}
		order = append(order, ct.ImageID)
	}
	for _, id := range order {
		if byID[id] != nil {
			r.st.Images = append(r.st.Images, *byID[id])
		}
	}
	sort.SliceStable(r.st.Images, func(i, j int) bool { return r.st.Images[i].SaveRef() < r.st.Images[j].SaveRef() })
	return nil
}

// addVolumes describes the named volumes, sorted by name, with their sizes
// (when the engine knows them) and users.
func (r *stackResolver) addVolumes(ctx context.Context) error {
	sizes := r.c.volumeSizes(ctx, len(r.volumes))
	for _, name := range sortedKeys(r.volumes) {
		v := volumeFromEngine(r.volumes[name])
		v.External = v.Labels[LabelProject] != r.st.Project
		if s, ok := sizes[name]; ok {
			v.Size = s
		}
		users, err := r.c.VolumeUsers(ctx, name)
		if err != nil {
			return err
		}
		v.UsedBy = users
		r.st.Volumes = append(r.st.Volumes, v)
	}
	return nil
}
