package precheck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/internal/bounded"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/mountcheck"
)

// Target verifies the target mount (fstype, not the root filesystem, the
// expected mount point, read-only) with room for the pack: the estimate
// times the margin, once the stack check made one; and, with ProbeTarget,
// the write probe.
func (c *Checker) Target(ctx context.Context) Result {
	b := c.begin(NameTarget)
	dir := c.o.Target
	if dir == "" {
		b.Skip("precheck.target.skip")
		return b.Result()
	}
	if storage.IsS3URL(dir) { // object storage: no mount to verify (s3.go)
		return c.targetS3(ctx, b)
	}
	c.storeRequired(ctx, b)
	pol := c.o.Policy
	pol.MinFreeBytes = max(pol.MinFreeBytes, c.Facts.Required)
	pol.SkipProbe = pol.SkipProbe || !c.o.ProbeTarget
	rep, err := mountcheck.Verify(ctx, dir, pol)
	c.Facts.Target = rep
	b.Evidence("path", dir)
	b.Evidence("policy", c.o.Policy.String())
	if rep.MountPoint != "" {
		b.Evidence("mount_point", rep.MountPoint)
		b.Evidence("fstype", rep.FSType)
		b.Evidence("source", rep.Source)
		b.Evidence("options", rep.Options)
		b.Evidence("on_root_fs", strconv.FormatBool(rep.OnRootFS))
		b.Evidence("free", fmt.Sprintf("%s / %s", UBytes(rep.FreeBytes), UBytes(rep.TotalBytes)))
	}
	if c.Facts.Required > 0 {
		b.Evidence("pack_needs", UBytes(c.Facts.Required))
	} else {
		b.Evidence("pack_needs", c.p.T("precheck.unknown_estimate"))
	}
	if err != nil {
		code := c.o.Code(err)
		if errors.Is(err, mountcheck.ErrPolicy) {
			code = "invalid_spec"
		}
		key := "precheck.target." + code
		if !i18n.Has(i18n.English, key) {
			key = "precheck.target.failed"
		}
		b.Fail(err, code, c.p.T(key, dir, rep.FSType, rep.MountPoint), c.p.T(key+".fix"))
		return b.Result()
	}
	if pol.SkipProbe {
		b.Evidence("write_probe", "skipped")
		b.OK("precheck.target.ok_unprobed", dir, rep.MountPoint, rep.FSType, UBytes(rep.FreeBytes))
		return b.Result()
	}
	b.Evidence("write_probe", "ok ("+Duration(rep.ProbeDuration)+")")
	b.OK("precheck.target.ok", dir, rep.MountPoint, rep.FSType, UBytes(rep.FreeBytes))
	probeMode(b, rep)
	return b.Result()
}

// probeMode reports the effective mode of the probe file, created 0600: a
// pack holds the application's credentials, and where the mount decides
// the modes (CIFS's file_mode; chmod is ignored) a world-readable probe
// means world-readable packs: a warning.
func probeMode(b *Builder, rep mountcheck.Report) {
	if rep.ProbeMode == 0 {
		return
	}
	mode := fmt.Sprintf("%04o", rep.ProbeMode)
	b.Evidence("probe_file_mode", mode+" ("+rep.ProbeMode.String()+")")
	if rep.ProbeMode&0o004 != 0 {
		b.Raise(check.Warn, "world_readable", b.p.T("precheck.target.world_readable", rep.MountPoint, mode),
			b.p.T("precheck.target.world_readable.fix", rep.MountPoint))
	}
}

// Staging checks the local staging directory of the SQLite snapshot: a
// directory, with room for the database (and, looking deep, writable: a
// probe file is created and removed). Without the database in the backup
// only a deep look checks it.
func (c *Checker) Staging(ctx context.Context) Result {
	b := c.begin(NameStaging)
	db := c.o.has(pack.ComponentDB)
	if !db && !c.o.Deep {
		b.Skip("precheck.staging.not_needed")
		return b.Result()
	}
	dir := c.o.StagingDir
	b.Evidence("path", dir)
	rep, _ := mountcheck.Verify(ctx, dir, mountcheck.Policy{AnyFSType: true, AllowRootFS: true, SkipProbe: true, ProbeTimeout: c.o.Policy.ProbeTimeout})
	if rep.MountPoint != "" {
		b.Evidence("mount_point", rep.MountPoint)
		b.Evidence("fstype", rep.FSType)
	}
	free, err := bounded.Call(ctx, c.o.CallTimeout, "checking the staging dir "+dir, func() ([2]uint64, error) { return stagingSpace(ctx, dir, c.o.Deep) })
	if err != nil {
		b.Fail(fmt.Errorf("staging dir %s: %w", dir, err), "staging_unusable", c.p.T("precheck.staging.unusable", dir), c.p.T("precheck.staging.unusable.fix"))
		return b.Result()
	}
	c.Facts.StagingFree = free[0]
	b.Evidence("free", fmt.Sprintf("%s / %s", UBytes(free[0]), UBytes(free[1])))
	var need int64
	switch {
	case db && c.Facts.Estimate != nil:
		need = c.Facts.Estimate.DB
	case db:
		need = c.Facts.DBSize
	}
	if need > 0 {
		b.Evidence("snapshot_needs", Bytes(need))
	}
	if c.o.Deep {
		b.OK("precheck.staging.ok", dir, UBytes(free[0]))
	} else {
		b.OK("precheck.staging.ok_unprobed", dir, UBytes(free[0]))
	}
	if need > 0 && free[0] < uint64(need) {
		err := fmt.Errorf("%w: staging dir %s has %s free, the SQLite snapshot needs %s; free space there or pass --staging-dir",
			mountcheck.ErrInsufficientSpace, dir, UBytes(free[0]), Bytes(need))
		b.Fail(err, "insufficient_space", c.p.T("precheck.staging.space", dir, UBytes(free[0]), Bytes(need)), c.p.T("precheck.staging.space.fix"))
	}
	return b.Result()
}

// stagingSpace checks that dir is a directory (probe: writable) and
// returns its free and total bytes.
func stagingSpace(ctx context.Context, dir string, probe bool) ([2]uint64, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return [2]uint64{}, err
	}
	if !fi.IsDir() {
		return [2]uint64{}, fmt.Errorf("%s is not a directory", dir)
	}
	if probe {
		f, err := os.CreateTemp(dir, ".dockpack-doctor-*")
		if err != nil {
			return [2]uint64{}, err
		}
		_, werr := f.Write([]byte("dockpack doctor probe\n"))
		if err := errors.Join(werr, f.Close(), os.Remove(f.Name())); err != nil {
			return [2]uint64{}, err
		}
	}
	free, total, err := mountcheck.FreeSpace(ctx, dir)
	return [2]uint64{free, total}, err
}

// storeRequired lowers the space a store backup needs to what the target's
// pack store lacks of the estimate (Options.StoreLacks), times the margin.
func (c *Checker) storeRequired(ctx context.Context, b *Builder) {
	if c.o.StoreLacks == nil || c.Facts.Estimate == nil {
		return
	}
	n, err := c.o.StoreLacks(ctx, &c.Facts)
	if err != nil {
		b.Evidence("store_lacks", "unknown ("+err.Error()+"): the whole estimate counts")
		return
	}
	c.Facts.Required = min(c.Facts.Required, uint64(float64(max(n, 0))*c.o.SpaceMargin))
	b.Evidence("store_lacks", UBytes(uint64(max(n, 0))))
}
