package backup

import (
	"context"
	"io"
	"time"

	"github.com/dockpack/dockpack/dockerapi"
)

// Engine is what a backup needs from the Docker Engine. *dockerapi.Client
// satisfies it; unit tests use fakes.
type Engine interface {
	Info(ctx context.Context) (dockerapi.EngineInfo, error)
	ResolveStack(ctx context.Context, project string) (dockerapi.Stack, error)
	// ImagesUniqueBytes estimates the bytes of the distinct layers of images.
	ImagesUniqueBytes(ctx context.Context, images []dockerapi.Image) (int64, error)
	SaveImages(ctx context.Context, refs []string, w io.Writer) (dockerapi.SaveResult, error)
	ExportVolume(ctx context.Context, st dockerapi.Stack, volume string, w io.Writer) (dockerapi.ExportResult, error)
	StopContainers(ctx context.Context, ids []string, timeout time.Duration) (restart func() error, err error)
}
