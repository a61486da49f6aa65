package backup_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/dockpack/dockpack/dockerapi"
)

// fakeEngine is an in-memory Engine for unit tests of the pipeline's logic.
type fakeEngine struct {
	mu        sync.Mutex
	info      dockerapi.EngineInfo
	infoErr   error
	stack     dockerapi.Stack
	stackErr  error
	imageData []byte // what SaveImages writes
	saveErr   error
	volData   map[string][]byte
	exportErr map[string]error
	// blockExport, when set, blocks ExportVolume until ctx is done.
	blockExport bool
	running     map[string]bool
	stopCalls   int
	startCalls  int
	saved       [][]string
}

func newFakeEngine() *fakeEngine {
	img := dockerapi.Image{ID: "sha256:" + hexOf("img-app"), RepoTags: []string{"demo/app:1"}, Size: 4096}
	untagged := dockerapi.Image{ID: "sha256:" + hexOf("img-untagged"), Size: 1024}
	return &fakeEngine{
		info: dockerapi.EngineInfo{Version: "20.10.24", APIVersion: "1.41", ImageStore: "graphdriver", StorageDriver: "overlay2", OS: "linux", Arch: "amd64"},
		stack: dockerapi.Stack{
			Project:  "demo",
			Services: []string{"app", "worker"},
			Containers: []dockerapi.Container{
				{ID: "c-app", Name: "demo_app_1", Service: "app", State: "running", Running: true, ImageID: img.ID},
				{ID: "c-worker", Name: "demo-worker-1", Service: "worker", State: "exited", ImageID: untagged.ID},
			},
			Images: []dockerapi.Image{img, untagged},
			Volumes: []dockerapi.Volume{
				{Name: "demo_data", Driver: "local", Labels: map[string]string{"com.docker.compose.project": "demo"}, Size: 300},
				{Name: "shared", Driver: "local", External: true, Size: 200},
			},
			Skipped: []dockerapi.Skipped{{Kind: "bind", Source: "/srv/conf", Destination: "/conf", Container: "demo_app_1", Reason: "bind mounts are host paths"}},
		},
		imageData: []byte("pretend this is an image archive"),
		volData:   map[string][]byte{"demo_data": []byte("data volume tar"), "shared": []byte("shared volume tar")},
		exportErr: map[string]error{},
		running:   map[string]bool{"c-app": true},
	}
}

func hexOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func (f *fakeEngine) Info(ctx context.Context) (dockerapi.EngineInfo, error) {
	if f.infoErr != nil {
		return dockerapi.EngineInfo{}, f.infoErr
	}
	return f.info, ctx.Err()
}

func (f *fakeEngine) ResolveStack(ctx context.Context, project string) (dockerapi.Stack, error) {
	if f.stackErr != nil {
		return dockerapi.Stack{}, f.stackErr
	}
	if project != f.stack.Project {
		return dockerapi.Stack{}, &dockerapi.ProjectNotFoundError{Project: project, Known: []string{f.stack.Project}}
	}
	return f.stack, nil
}

func (f *fakeEngine) ImagesUniqueBytes(ctx context.Context, images []dockerapi.Image) (int64, error) {
	return int64(len(f.imageData)), nil
}

func (f *fakeEngine) SaveImages(ctx context.Context, refs []string, w io.Writer) (dockerapi.SaveResult, error) {
	f.mu.Lock()
	f.saved = append(f.saved, slices.Clone(refs))
	f.mu.Unlock()
	n, err := w.Write(f.imageData)
	if err != nil {
		return dockerapi.SaveResult{}, err
	}
	if f.saveErr != nil {
		return dockerapi.SaveResult{}, f.saveErr
	}
	var saved []dockerapi.SavedImage
	for _, im := range f.stack.Images {
		saved = append(saved, dockerapi.SavedImage{Ref: im.SaveRef(), ConfigDigest: im.ID, RepoTags: im.RepoTags})
	}
	return dockerapi.SaveResult{Bytes: int64(n), Images: saved}, nil
}

func (f *fakeEngine) ExportVolume(ctx context.Context, st dockerapi.Stack, volume string, w io.Writer) (dockerapi.ExportResult, error) {
	if f.blockExport {
		<-ctx.Done()
		return dockerapi.ExportResult{}, ctx.Err()
	}
	data, ok := f.volData[volume]
	if !ok {
		return dockerapi.ExportResult{}, fmt.Errorf("%w: no volume %s", dockerapi.ErrVolumeNotFound, volume)
	}
	n, err := w.Write(data)
	if err != nil {
		return dockerapi.ExportResult{}, err
	}
	if e := f.exportErr[volume]; e != nil {
		return dockerapi.ExportResult{}, e
	}
	return dockerapi.ExportResult{Bytes: int64(n), ContentBytes: int64(n), Via: "fake"}, nil
}

func (f *fakeEngine) StopContainers(ctx context.Context, ids []string, timeout time.Duration) (func() error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopCalls++
	var stopped []string
	for _, id := range ids {
		if f.running[id] {
			f.running[id] = false
			stopped = append(stopped, id)
		}
	}
	done := false
	return func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		if done {
			return nil
		}
		done = true
		f.startCalls++
		for _, id := range stopped {
			f.running[id] = true
		}
		return nil
	}, nil
}

func (f *fakeEngine) isRunning(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running[id]
}
