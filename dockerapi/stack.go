package dockerapi

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"go.uber.org/zap"
)

// Labels compose (v1 and v2) puts on containers and volumes, and dockpack's
// own labels.
const (
	LabelProject     = "com.docker.compose.project"
	LabelService     = "com.docker.compose.service"
	LabelNumber      = "com.docker.compose.container-number"
	LabelConfigFiles = "com.docker.compose.project.config_files"
	LabelWorkingDir  = "com.docker.compose.project.working_dir"
	LabelEnvFile     = "com.docker.compose.project.environment_file"
	LabelVolume      = "com.docker.compose.volume"
	// LabelAnonymous marks anonymous volumes on engines ≥ 23.
	LabelAnonymous = "com.docker.volume.anonymous"
	// LabelHelper marks helper containers and images dockpack creates; they
	// never outlive the call that made them.
	LabelHelper = "dockpack.helper"
	// LabelHelperVolume names the volume a helper container mounts.
	LabelHelperVolume = "dockpack.volume"
)

// Stack is everything the engine knows about one compose project.
type Stack struct {
	Project      string
	Containers   []Container // sorted by Service, then Name
	Services     []string    // sorted unique
	Images       []Image     // de-duplicated by ID, sorted by SaveRef
	Volumes      []Volume    // named volumes, sorted by name
	Skipped      []Skipped   // anonymous volumes, bind mounts, tmpfs mounts
	ComposeFiles []string    // from com.docker.compose.project.config_files, unique, in order
	WorkingDir   string      // com.docker.compose.project.working_dir
	EnvFiles     []string    // com.docker.compose.project.environment_file, if any
}

// Container is one container of a stack, in any state.
type Container struct {
	ID, Name, Service string
	// State is the engine's status: created|running|exited|paused|restarting|removing|dead.
	State string
	// Running is true while the container's process exists (also when paused).
	Running  bool
	ImageID  string // "sha256:…"
	ImageRef string // Config.Image as the container names it
	Mounts   []Mount
	Labels   map[string]string
}

// Mount is one mount of a container.
type Mount struct {
	Type        string // "volume" | "bind" | "tmpfs" (others as the engine names them)
	Name        string // volume name
	Source      string // host path (bind) or the volume's mount point
	Destination string // path inside the container
	RW          bool
	Subpath     string // volume subpath (API ≥ 1.45): the container sees only this part
}

// Image is one image used by the stack's containers.
type Image struct {
	ID          string
	RepoTags    []string
	RepoDigests []string
	Size        int64
	Layers      []string // RootFS.Layers (diff IDs)
	Containers  []string // names of stack containers using it
	OS, Arch    string   // the image's platform
	Variant     string
}

// SaveRef is the reference to save the image by: its first tag (so `docker
// load` restores the name), or its ID when it has none.
func (im Image) SaveRef() string {
	if len(im.RepoTags) > 0 {
		return im.RepoTags[0]
	}
	return im.ID
}

// Volume is a named volume.
type Volume struct {
	Name, Driver string
	Options      map[string]string
	Labels       map[string]string
	// External is true when the volume does not carry this project's label
	// (declared external in compose, or created by hand).
	External   bool
	Size       int64 // bytes from the engine's disk usage; -1 when unknown
	Mountpoint string
	UsedBy     []VolumeUser // every container (any state, any project) mounting it
}

// VolumeUser is a container mounting a volume.
type VolumeUser struct {
	ContainerID, ContainerName, Destination string
	ReadOnly, Running                       bool
}

// Skipped is a mount that a backup does not contain.
type Skipped struct {
	Kind        string // "bind" | "anonymous" | "tmpfs" (or another mount type)
	Source      string // host path, volume name; empty for tmpfs
	Destination string
	Container   string // container name
	Reason      string
}

// KnownProjects lists the compose projects of all containers (any state)
// and volumes on the engine, sorted.
func (c *Client) KnownProjects(ctx context.Context) ([]string, error) {
	f := filters.NewArgs(filters.Arg("label", LabelProject))
	cs, err := c.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, c.engineErr("list compose containers", err, nil)
	}
	vs, err := c.cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return nil, c.engineErr("list compose volumes", err, nil)
	}
	set := map[string]bool{}
	for _, ct := range cs {
		if p := ct.Labels[LabelProject]; p != "" {
			set[p] = true
		}
	}
	for _, v := range vs.Volumes {
		if p := v.Labels[LabelProject]; p != "" {
			set[p] = true
		}
	}
	return sortedKeys(set), nil
}

// volumeSizes asks the engine's disk usage for volume sizes; best effort
// (a failure only leaves sizes unknown).
func (c *Client) volumeSizes(ctx context.Context, n int) map[string]int64 {
	out := map[string]int64{}
	if n == 0 {
		return out
	}
	du, err := c.cli.DiskUsage(ctx, types.DiskUsageOptions{Types: []types.DiskUsageObject{types.VolumeObject}})
	if err != nil {
		c.log.Warn("volume sizes unknown: disk usage failed", zap.Error(err))
		return out
	}
	for _, v := range du.Volumes {
		if v != nil && v.UsageData != nil && v.UsageData.Size >= 0 {
			out[v.Name] = v.UsageData.Size
		}
	}
	return out
}

// VolumeUsers lists every container (all states, any project) that mounts
// the volume, sorted by container name.
func (c *Client) VolumeUsers(ctx context.Context, name string) ([]VolumeUser, error) {
	f := filters.NewArgs(filters.Arg("volume", name))
	cs, err := c.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, c.engineErr(fmt.Sprintf("list containers using volume %q", name), err, nil)
	}
	var users []VolumeUser
	for _, ct := range cs {
		for _, m := range ct.Mounts {
			// the "volume" filter also matches mount destinations: keep real users only
			if m.Type != mount.TypeVolume || m.Name != name {
				continue
			}
			users = append(users, VolumeUser{
				ContainerID:   ct.ID,
				ContainerName: containerName(ct.Names),
				Destination:   m.Destination,
				ReadOnly:      !m.RW,
				Running:       ct.State == container.StateRunning || ct.State == container.StatePaused || ct.State == container.StateRestarting,
			})
		}
	}
	sort.SliceStable(users, func(i, j int) bool {
		if users[i].ContainerName != users[j].ContainerName {
			return users[i].ContainerName < users[j].ContainerName
		}
		return users[i].Destination < users[j].Destination
	})
	return users, nil
}

func containerFromInspect(ctr container.InspectResponse) Container {
	ct := Container{ID: ctr.ID, Name: strings.TrimPrefix(ctr.Name, "/"), ImageID: ctr.Image}
	if ctr.Config != nil {
		ct.ImageRef = ctr.Config.Image
		ct.Labels = ctr.Config.Labels
	}
	if ct.Labels == nil {
		ct.Labels = map[string]string{}
	}
	ct.Service = ct.Labels[LabelService]
	if ctr.State != nil {
		ct.State = string(ctr.State.Status)
		ct.Running = ctr.State.Running
	}
	subpaths := map[string]string{}
	if ctr.HostConfig != nil {
		for _, m := range ctr.HostConfig.Mounts {
			if m.VolumeOptions != nil && m.VolumeOptions.Subpath != "" {
				subpaths[m.Target] = m.VolumeOptions.Subpath
			}
		}
	}
	for _, m := range ctr.Mounts {
		ct.Mounts = append(ct.Mounts, Mount{Type: string(m.Type), Name: m.Name, Source: m.Source,
			Destination: m.Destination, RW: m.RW, Subpath: subpaths[m.Destination]})
	}
	sort.SliceStable(ct.Mounts, func(i, j int) bool { return ct.Mounts[i].Destination < ct.Mounts[j].Destination })
	return ct
}

func volumeFromEngine(v *volume.Volume) Volume {
	out := Volume{Name: v.Name, Driver: v.Driver, Options: v.Options, Labels: v.Labels, Mountpoint: v.Mountpoint, Size: -1}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	if v.UsageData != nil && v.UsageData.Size >= 0 {
		out.Size = v.UsageData.Size
	}
	return out
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// isAnonymousVolume: the engine names anonymous volumes with 64 hex digits
// (and labels them com.docker.volume.anonymous since engine 23). A volume
// that carries the project's label is the project's even with such a name.
func isAnonymousVolume(name string, labels map[string]string, project string) bool {
	if labels[LabelProject] == project && project != "" {
		return false
	}
	if _, ok := labels[LabelAnonymous]; ok {
		return true
	}
	return hex64.MatchString(name)
}

// splitList splits a compose comma-separated label value, trimming blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func appendUnique(dst []string, items ...string) []string {
outer:
	for _, it := range items {
		for _, d := range dst {
			if d == it {
				continue outer
			}
		}
		dst = append(dst, it)
	}
	return dst
}

func containerName(names []string) string {
	// the first name is the canonical one; linked containers add "/a/b" aliases
	for _, n := range names {
		n = strings.TrimPrefix(n, "/")
		if !strings.Contains(n, "/") {
			return n
		}
	}
	if len(names) > 0 {
		return strings.TrimPrefix(names[0], "/")
	}
	return ""
}

func hasMountAt(ms []Mount, dest string) bool {
	for _, m := range ms {
		if m.Destination == dest {
			return true
		}
	}
	return false
}

// orderTags sorts an image's tags (dropping "<none>:<none>") and moves the
// one the container was created from to the front, so SaveRef is the name
// compose expects after a restore.
func orderTags(tags []string, preferred string) []string {
	out := RealTags(tags)
	sort.Strings(out)
	if preferred == "" {
		return out
	}
	want := normalizeRef(preferred)
	for i, t := range out {
		if normalizeRef(t) == want {
			copy(out[1:i+1], out[:i])
			out[0] = t
			break
		}
	}
	return out
}

// normalizeRef gives the familiar tagged form of an image reference
// ("docker.io/library/app" → "app:latest"); IDs and unparsable strings are
// returned unchanged.
func normalizeRef(s string) string {
	if strings.HasPrefix(s, "sha256:") {
		return s
	}
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return s
	}
	return reference.FamiliarString(reference.TagNameOnly(n))
}

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// RealTags drops the empty and "<none>:<none>" entries the engine lists for
// untagged images.
func RealTags(tags []string) []string {
	var out []string
	for _, t := range tags {
		if t != "" && t != "<none>:<none>" {
			out = append(out, t)
		}
	}
	return out
}
