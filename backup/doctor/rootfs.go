package doctor

import (
	"context"
	"fmt"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/internal/precheck"
	"github.com/dockpack/dockpack/mountcheck"
)

// rootFS checks the free space on the root filesystem where dockpack runs:
// backups never write there, but the engine and the system need room.
func (d *doctor) rootFS(ctx context.Context) precheck.Result {
	b := d.begin(CheckRootFS)
	free, total, err := mountcheck.FreeSpace(ctx, "/")
	if err != nil {
		b.Fail(err, "target_probe_failed", d.p.T("doctor.root_fs.unreadable"), d.p.T("doctor.root_fs.unreadable.fix"))
		return b.Result()
	}
	b.Evidence("free", fmt.Sprintf("%s / %s", precheck.UBytes(free), precheck.UBytes(total)))
	b.Evidence("thresholds", fmt.Sprintf("warn < %s, fail < %s", precheck.UBytes(d.o.RootWarnFree), precheck.UBytes(d.o.RootFailFree)))
	b.OK("doctor.root_fs.ok", precheck.UBytes(free))
	switch {
	case free < d.o.RootFailFree:
		b.Raise(check.Fail, "root_fs_full", d.p.T("doctor.root_fs.low", precheck.UBytes(free)), d.p.T("doctor.root_fs.low.fix"))
	case free < d.o.RootWarnFree:
		b.Raise(check.Warn, "root_fs_low", d.p.T("doctor.root_fs.low", precheck.UBytes(free)), d.p.T("doctor.root_fs.low.fix"))
	}
	return b.Result()
}
