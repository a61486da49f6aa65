// Package backuptest is the test support of the packages under backup/: one
// in-memory fake of the Docker Engine (every Engine interface of the
// library), one demo stack, pack builders and small helpers. Tests use it
// through the packages' public APIs; it holds no assertions of its own.
package backuptest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/owner"
)

// Engine is an in-memory Docker Engine: the backup side (stack, image save,
// volume export, stop/start) and the restore side (image load, volumes,
// incomplete marks, helper images). Exported fields are set up before use;
// while the engine is in use, read its state through the methods.
type Engine struct {
	mu sync.Mutex

	// EngineInfo is what Info returns (InfoErr instead when set; with
	// BlockInfo, Info waits for its context to end).
	EngineInfo dockerapi.EngineInfo
	InfoErr    error
	BlockInfo  bool
	// Stack is the compose project ResolveStack knows (StackErr instead when set).
	Stack    dockerapi.Stack
	StackErr error
	// ImageData is what SaveImages writes; SaveErr is returned after it.
	// ImageSize, when > 0, is what ImagesUniqueBytes reports (else len(ImageData)).
	ImageData []byte
	SaveErr   error
	ImageSize int64
	// VolData is each volume's export; ExportErr a volume's error after it.
	VolData   map[string][]byte
	ExportErr map[string]error
	// BlockExport makes ExportVolume wait for its context to end;
	// ExportStarted, when set, receives the volume name as an export begins.
	BlockExport   bool
	ExportStarted chan string
	// ChecksLayers is what LoadChecksLayers says.
	ChecksLayers bool
	// OnLoad maps the refs the next LoadImages creates to their config
	// digests; LoadErr fails LoadImages (after reading its input).
	OnLoad  map[string]string
	LoadErr error

	running    map[string]bool // container ID → running
	stopCalls  int
	startCalls int
	saved      [][]string
	starts     [][]string
	images     map[string]string // ref (tag or config digest) → config digest
	loads      int
	lastLoad   []byte
	volumes    map[string]*Volume
	markers    map[string][]string // volume → packs
	helpers    int                 // helper images imported and not removed
	imported   []string            // volumes ImportVolume filled
	calls      []string
}

// Volume is a volume of the fake engine's restore side.
type Volume struct {
	Spec    dockerapi.VolumeSpec
	Content []byte // the last tar imported (nil: empty)
	Users   []dockerapi.VolumeUser
}

// Hex is the hex sha256 of b (fake image IDs, digests, checksums).
func Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// NewEngine is a fake engine serving DemoStack: every container of the
// stack whose State is "running" runs, volume exports are small strings.
func NewEngine() *Engine {
	st := DemoStack()
	e := &Engine{
		EngineInfo: DemoInfo(),
		Stack:      st,
		ImageData:  []byte("pretend this is an image archive"),
		VolData:    map[string][]byte{},
		ExportErr:  map[string]error{},
		OnLoad:     map[string]string{},
		running:    map[string]bool{},
		images:     map[string]string{},
		volumes:    map[string]*Volume{},
		markers:    map[string][]string{},
	}
	for _, c := range st.Containers {
		e.running[c.ID] = c.State == "running"
	}
	for _, v := range st.Volumes {
		e.VolData[v.Name] = []byte(v.Name + " volume tar")
	}
	return e
}

// DemoInfo is a graph-driver Docker Engine 20.10.
func DemoInfo() dockerapi.EngineInfo {
	return dockerapi.EngineInfo{Version: "20.10.24", APIVersion: "1.41", MinAPIVersion: "1.12", ClientAPIVersion: "1.41",
		ImageStore: "graphdriver", StorageDriver: "overlay2", DataRoot: "/var/lib/docker", OS: "linux", Arch: "amd64"}
}

// DemoImageID is the ID of the demo stack's tagged image demo/app:1.
var DemoImageID = "sha256:" + Hex([]byte("img-app"))

// DemoStack is project "demo": service app (container demo_app_1, running,
// image demo/app:1) and service worker (demo-worker-1, exited, an untagged
// image), the project's volume demo_data and the external volume shared, and
// a bind mount listed as skipped.
func DemoStack() dockerapi.Stack {
	img := dockerapi.Image{ID: DemoImageID, RepoTags: []string{"demo/app:1"}, Size: 4096, Containers: []string{"demo_app_1"}}
	untagged := dockerapi.Image{ID: "sha256:" + Hex([]byte("img-untagged")), Size: 1024}
	return dockerapi.Stack{
		Project:  "demo",
		Services: []string{"app", "worker"},
		Containers: []dockerapi.Container{
			{ID: "c-app", Name: "demo_app_1", Service: "app", State: "running", Running: true, ImageID: img.ID, ImageRef: "demo/app:1"},
			{ID: "c-worker", Name: "demo-worker-1", Service: "worker", State: "exited", ImageID: untagged.ID},
		},
		Images: []dockerapi.Image{img, untagged},
		Volumes: []dockerapi.Volume{
			{Name: "demo_data", Driver: "local", Labels: map[string]string{dockerapi.LabelProject: "demo"}, Size: 300},
			{Name: "shared", Driver: "local", External: true, Size: 200},
		},
		Skipped: []dockerapi.Skipped{{Kind: "bind", Source: "/srv/conf", Destination: "/conf", Container: "demo_app_1", Reason: "bind mounts are host paths"}},
	}
}

func (e *Engine) call(s string) {
	e.mu.Lock()
	e.calls = append(e.calls, s)
	e.mu.Unlock()
}

// Info implements the engine interfaces.
func (e *Engine) Info(ctx context.Context) (dockerapi.EngineInfo, error) {
	if e.BlockInfo {
		<-ctx.Done()
		return dockerapi.EngineInfo{}, ctx.Err()
	}
	if e.InfoErr != nil {
		return dockerapi.EngineInfo{}, e.InfoErr
	}
	return e.EngineInfo, ctx.Err()
}

// ResolveStack returns Stack with each container's current running state
// (running when the engine runs it and its State, as set up, says so).
func (e *Engine) ResolveStack(ctx context.Context, project string) (dockerapi.Stack, error) {
	if e.StackErr != nil {
		return dockerapi.Stack{}, e.StackErr
	}
	if err := ctx.Err(); err != nil {
		return dockerapi.Stack{}, err
	}
	if project != e.Stack.Project {
		return dockerapi.Stack{}, &dockerapi.ProjectNotFoundError{Project: project, Known: []string{e.Stack.Project}}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.Stack
	st.Containers = slices.Clone(st.Containers)
	for i := range st.Containers {
		c := &st.Containers[i]
		c.Running = e.running[c.ID] && (c.State == "running" || c.State == "")
		if !c.Running && c.State == "running" {
			c.State = "exited"
		}
	}
	return st, nil
}

// ImagesUniqueBytes reports ImageSize, or the size of ImageData.
func (e *Engine) ImagesUniqueBytes(ctx context.Context, images []dockerapi.Image) (int64, error) {
	if e.ImageSize > 0 {
		return e.ImageSize, ctx.Err()
	}
	return int64(len(e.ImageData)), ctx.Err()
}

// SaveImages writes ImageData and reports every image of the stack saved.
func (e *Engine) SaveImages(ctx context.Context, refs []string, w io.Writer) (dockerapi.SaveResult, error) {
	e.mu.Lock()
	e.saved = append(e.saved, slices.Clone(refs))
	e.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return dockerapi.SaveResult{}, err
	}
	n, err := w.Write(e.ImageData)
	if err != nil {
		return dockerapi.SaveResult{}, err
	}
	if e.SaveErr != nil {
		return dockerapi.SaveResult{}, e.SaveErr
	}
	var saved []dockerapi.SavedImage
	for _, im := range e.Stack.Images {
		saved = append(saved, dockerapi.SavedImage{Ref: im.SaveRef(), ConfigDigest: im.ID, RepoTags: im.RepoTags})
	}
	return dockerapi.SaveResult{Bytes: int64(n), Images: saved}, nil
}

// ExportVolume writes VolData[volume].
func (e *Engine) ExportVolume(ctx context.Context, st dockerapi.Stack, volume string, w io.Writer) (dockerapi.ExportResult, error) {
	if e.ExportStarted != nil {
		e.ExportStarted <- volume
	}
	if e.BlockExport {
		<-ctx.Done()
		return dockerapi.ExportResult{}, ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return dockerapi.ExportResult{}, err
	}
	data, ok := e.VolData[volume]
	if !ok {
		return dockerapi.ExportResult{}, fmt.Errorf("%w: no volume %s", dockerapi.ErrVolumeNotFound, volume)
	}
	n, err := w.Write(data)
	if err != nil {
		return dockerapi.ExportResult{}, err
	}
	if err := e.ExportErr[volume]; err != nil {
		return dockerapi.ExportResult{}, err
	}
	return dockerapi.ExportResult{Bytes: int64(n), ContentBytes: int64(n), Via: "fake"}, nil
}

// StopContainers stops the running ones of ids; the returned func starts them again (once).
func (e *Engine) StopContainers(ctx context.Context, ids []string, timeout time.Duration) (func() error, error) {
	e.call("stop " + strings.Join(ids, ","))
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopCalls++
	var stopped []string
	for _, id := range ids {
		if e.running[id] {
			e.running[id] = false
			stopped = append(stopped, id)
		}
	}
	var once sync.Once
	return func() error {
		once.Do(func() {
			e.call("start " + strings.Join(stopped, ","))
			e.mu.Lock()
			defer e.mu.Unlock()
			e.startCalls++
			for _, id := range stopped {
				e.running[id] = true
			}
		})
		return nil
	}, nil
}

// StartContainers starts ids; an unknown container is dockerapi.ErrContainerNotFound.
func (e *Engine) StartContainers(ctx context.Context, ids []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.starts = append(e.starts, slices.Clone(ids))
	var errs []error
	for _, id := range ids {
		if _, ok := e.running[id]; !ok {
			errs = append(errs, fmt.Errorf("%w: %s", dockerapi.ErrContainerNotFound, id))
			continue
		}
		e.running[id] = true
	}
	return errors.Join(errs...)
}

// SetRunning sets a container's state (as if someone started or stopped it by hand).
func (e *Engine) SetRunning(id string, running bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.running[id] = running
}

// IsRunning reports a container's state.
func (e *Engine) IsRunning(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running[id]
}

// Started lists the container IDs StartContainers was called with, in order.
func (e *Engine) Started() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, s := range e.starts {
		out = append(out, s...)
	}
	return out
}

// Saved lists the refs of each SaveImages call.
func (e *Engine) Saved() [][]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.saved)
}

// StopStartCalls counts StopContainers calls and restarts.
func (e *Engine) StopStartCalls() (stops, starts int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stopCalls, e.startCalls
}

// Calls lists the restore-side calls in order ("load", "create v", "import v", "stop a,b", …).
func (e *Engine) Calls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

// LoadImages reads the archive and creates OnLoad's refs.
func (e *Engine) LoadImages(ctx context.Context, r io.Reader) (dockerapi.LoadResult, error) {
	e.call("load")
	var got bytes.Buffer
	_, err := io.Copy(&got, r)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastLoad = got.Bytes()
	if err != nil {
		return dockerapi.LoadResult{}, fmt.Errorf("%w: %w", dockerapi.ErrImageLoad, err)
	}
	e.loads++
	if e.LoadErr != nil {
		return dockerapi.LoadResult{}, e.LoadErr
	}
	var loaded []string
	for ref, d := range e.OnLoad {
		e.images[ref] = d
		loaded = append(loaded, ref)
	}
	return dockerapi.LoadResult{Loaded: loaded}, nil
}

// LastLoad is what the last LoadImages received before its input ended.
func (e *Engine) LastLoad() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastLoad
}

// LoadChecksLayers is ChecksLayers (this fake's load checks nothing: a
// test that sets it plays an engine that checks layers).
func (e *Engine) LoadChecksLayers(ctx context.Context) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ChecksLayers, nil
}

// Loads counts LoadImages calls.
func (e *Engine) Loads() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.loads
}

// SetImage makes ref resolve to a config digest ("" removes it).
func (e *Engine) SetImage(ref, digest string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if digest == "" {
		delete(e.images, ref)
		return
	}
	e.images[ref] = digest
}

// ImageConfigDigest resolves a ref loaded or set before.
func (e *Engine) ImageConfigDigest(ctx context.Context, ref string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.images[ref]
	if !ok {
		return "", fmt.Errorf("%w: %s", dockerapi.ErrImageNotFound, ref)
	}
	return d, nil
}

// HelperImage imports a pretend helper image; HelperImages counts those not removed.
func (e *Engine) HelperImage(ctx context.Context) (string, func() error, error) {
	e.call("helper-image")
	e.mu.Lock()
	e.helpers++
	e.mu.Unlock()
	var once sync.Once
	return "dockpack-helper:test", func() error {
		once.Do(func() {
			e.mu.Lock()
			e.helpers--
			e.mu.Unlock()
		})
		return nil
	}, nil
}

// HelperImages counts helper images imported and not removed.
func (e *Engine) HelperImages() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.helpers
}

// InspectVolume describes a restore-side volume with its users (and marks as users).
func (e *Engine) InspectVolume(ctx context.Context, name string) (dockerapi.Volume, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.volumes[name]
	if !ok {
		return dockerapi.Volume{}, fmt.Errorf("%w: %s", dockerapi.ErrVolumeNotFound, name)
	}
	out := dockerapi.Volume{Name: name, Driver: v.Spec.Driver, Options: v.Spec.Options, Labels: v.Spec.Labels}
	for _, u := range v.Users {
		u.Running = e.running[u.ContainerID]
		out.UsedBy = append(out.UsedBy, u)
	}
	for range e.markers[name] {
		out.UsedBy = append(out.UsedBy, dockerapi.VolumeUser{ContainerID: "m", ContainerName: "dockpack-restore-marker-0123"})
	}
	return out, nil
}

// CreateVolume creates an empty volume.
func (e *Engine) CreateVolume(ctx context.Context, s dockerapi.VolumeSpec) error {
	e.call("create " + s.Name)
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.volumes[s.Name]; ok {
		return fmt.Errorf("%w: %s", dockerapi.ErrVolumeExists, s.Name)
	}
	s.Labels, s.Options = maps.Clone(s.Labels), maps.Clone(s.Options)
	e.volumes[s.Name] = &Volume{Spec: s}
	return nil
}

// RemoveVolume removes a volume no container uses.
func (e *Engine) RemoveVolume(ctx context.Context, name string, force bool) error {
	e.call("remove " + name)
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.volumes[name]
	if !ok {
		return fmt.Errorf("%w: %s", dockerapi.ErrVolumeNotFound, name)
	}
	if len(v.Users) > 0 || len(e.markers[name]) > 0 {
		return fmt.Errorf("remove volume %s: volume is in use", name)
	}
	delete(e.volumes, name)
	return nil
}

// VolumeEmpty reports whether nothing was imported into the volume.
func (e *Engine) VolumeEmpty(ctx context.Context, name, helperImage string) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.volumes[name]
	if !ok {
		return false, fmt.Errorf("%w: %s", dockerapi.ErrVolumeNotFound, name)
	}
	return len(v.Content) == 0, nil
}

// ImportVolume appends the tar to the volume's content (also on error, as extraction does).
func (e *Engine) ImportVolume(ctx context.Context, name, helperImage string, r io.Reader) error {
	e.call("import " + name)
	b, err := io.ReadAll(r)
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.volumes[name]
	if !ok {
		return fmt.Errorf("%w: %s", dockerapi.ErrVolumeNotFound, name)
	}
	v.Content = append(v.Content, b...)
	if err != nil {
		return fmt.Errorf("%w: volume %q: %w", dockerapi.ErrVolumeImport, name, err)
	}
	e.imported = append(e.imported, name)
	return nil
}

// Imported lists the volumes ImportVolume filled.
func (e *Engine) Imported() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.imported)
}

// MarkVolumeIncomplete records a mark.
func (e *Engine) MarkVolumeIncomplete(ctx context.Context, volume, image, packDir string) error {
	e.call("mark " + volume)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.markers[volume] = append(e.markers[volume], packDir)
	return nil
}

// VolumeIncompleteMarks lists the marks of a volume.
func (e *Engine) VolumeIncompleteMarks(ctx context.Context, volume string) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.markers[volume]), nil
}

// ClearVolumeMarks removes the marks of a volume.
func (e *Engine) ClearVolumeMarks(ctx context.Context, volume string) error {
	e.call("unmark " + volume)
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.markers, volume)
	return nil
}

// Existing adds a restore-side volume that exists already, with its users.
func (e *Engine) Existing(name string, content []byte, users ...dockerapi.VolumeUser) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.volumes[name] = &Volume{Spec: dockerapi.VolumeSpec{Name: name, Driver: "local", Labels: map[string]string{}}, Content: content, Users: users}
	for _, u := range users {
		e.running[u.ContainerID] = u.Running
	}
}

// Volume returns a restore-side volume (nil if there is none).
func (e *Engine) Volume(name string) *Volume {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.volumes[name]
}

// Marked reports whether a volume carries an incomplete mark.
func (e *Engine) Marked(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.markers[name]) > 0
}

// Image is the config digest ref resolves to ("" when unknown).
func (e *Engine) Image(ref string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.images[ref]
}

// ClearImages forgets every image.
func (e *Engine) ClearImages() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.images = map[string]string{}
}

// NewRunningEngine is the demo stack with both services running on the
// tagged image and only the project's volume, whose export (like images.tar)
// is a real small tar: what the job tests back up end to end.
func NewRunningEngine() *Engine {
	e := NewEngine()
	st := &e.Stack
	st.Images = st.Images[:1]
	st.Volumes = []dockerapi.Volume{{Name: "demo_data", Driver: "local", Labels: map[string]string{dockerapi.LabelProject: "demo"}, Size: 100}}
	st.Skipped = nil
	for i := range st.Containers {
		c := &st.Containers[i]
		c.State, c.Running, c.ImageID, c.ImageRef = "running", true, DemoImageID, "demo/app:1"
		e.running[c.ID] = true
	}
	st.Containers[1].Name = "demo_worker_1"
	e.VolData = map[string][]byte{"demo_data": SmallTar("data.txt", "volume content")}
	e.ImageData = SmallTar("manifest.json", "[]")
	return e
}

// RemoveStaleHelpers has no helpers to remove (the fake creates none).
func (e *Engine) RemoveStaleHelpers(ctx context.Context, dead func(owner.Identity) bool) ([]string, error) {
	return nil, ctx.Err()
}
