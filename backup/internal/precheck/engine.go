package precheck

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/bounded"
	"github.com/dockpack/dockpack/mountcheck"
)

// Engine checks that the Docker Engine answers, and records its info.
func (c *Checker) Engine(ctx context.Context) Result {
	b := c.begin(NameEngine)
	err := c.o.EngineErr
	switch {
	case err == nil && c.o.Engine == nil:
		b.Skip("precheck.engine.skip")
		return b.Result()
	case err == nil:
		var info dockerapi.EngineInfo
		if info, err = c.o.Engine.Info(ctx); err == nil {
			c.Facts.Engine = &info
		}
	}
	if err != nil {
		b.Fail(err, c.o.Code(err), c.p.T("precheck.engine.unreachable"), c.p.T("precheck.engine.unreachable.fix"))
		return b.Result()
	}
	info := c.Facts.Engine
	b.Evidence("version", info.Version)
	b.Evidence("api", fmt.Sprintf("%s (min %s, client %s)", info.APIVersion, info.MinAPIVersion, info.ClientAPIVersion))
	b.Evidence("storage_driver", info.StorageDriver)
	b.Evidence("image_store", info.ImageStore)
	b.Evidence("data_root", info.DataRoot)
	b.Evidence("platform", strings.Trim(info.OS+"/"+info.Arch+"/"+info.Variant, "/"))
	b.Evidence("engine_local", strconv.FormatBool(info.Local))
	b.OK("precheck.engine.ok", info.Version, info.APIVersion, info.ImageStore)
	return b.Result()
}

// DataRoot checks the free space under the engine's data root: a
// graph-driver engine stages the whole image export there before it sends
// the first byte (the containerd image store streams).
func (c *Checker) DataRoot(ctx context.Context) Result {
	b := c.begin(NameDataRoot)
	if c.skipWithoutEngine(b) {
		return b.Result()
	}
	info := *c.Facts.Engine
	b.Evidence("data_root", info.DataRoot)
	b.Evidence("image_store", info.ImageStore)
	images := c.o.has(pack.ComponentImages)
	switch {
	case info.ImageStore != dockerapi.ImageStoreGraphDriver:
		b.OK("precheck.data_root.streams", info.ImageStore)
		return b.Result()
	case !info.Local:
		b.Raise(check.Warn, "data_root_remote", c.p.T("precheck.data_root.remote"), c.p.T("precheck.data_root.remote.fix", info.DataRoot))
		return b.Result()
	}
	free, err := bounded.Call(ctx, c.o.CallTimeout, "reading the free space of "+info.DataRoot, func() ([2]uint64, error) {
		if _, err := os.Stat(info.DataRoot); err != nil {
			return [2]uint64{}, err
		}
		f, t, err := mountcheck.FreeSpace(ctx, info.DataRoot)
		return [2]uint64{f, t}, err
	})
	switch {
	case err != nil && images:
		b.Raise(check.Warn, "data_root_not_visible", c.p.T("precheck.data_root.not_visible", info.DataRoot), c.p.T("precheck.data_root.not_visible.fix", info.DataRoot))
		b.Detail(err.Error())
		return b.Result()
	case err != nil:
		b.OK("precheck.data_root.no_images")
		return b.Result()
	}
	b.Evidence("free", fmt.Sprintf("%s / %s", UBytes(free[0]), UBytes(free[1])))
	b.OK("precheck.data_root.ok", info.DataRoot, UBytes(free[0]))
	if !images || c.Facts.Estimate == nil {
		return b.Result()
	}
	need := c.Facts.Estimate.Images
	c.Facts.DataRootFree, c.Facts.DataRootChecked = free[0], true
	b.Evidence("images_need", Bytes(need))
	if need > 0 && free[0] < uint64(need) {
		err := fmt.Errorf("%w: the engine's data root %s has %s free, but a graph-driver engine stages the whole image export (%s) there before sending it; free space under %s or back up without images",
			mountcheck.ErrInsufficientSpace, info.DataRoot, UBytes(free[0]), Bytes(need), info.DataRoot)
		b.Fail(err, "insufficient_space", c.p.T("precheck.data_root.space", info.DataRoot, UBytes(free[0]), Bytes(need)),
			c.p.T("precheck.data_root.space.fix", info.DataRoot))
	}
	return b.Result()
}
