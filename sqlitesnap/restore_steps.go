package sqlitesnap

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
)

// stageSnapshot is Restore's step 2: it copies the snapshot into stageDir
// while computing its sha256 (compared with o.ExpectSHA256 when set) and
// checks the staged copy, filling res's durations and database fields.
func stageSnapshot(ctx context.Context, snapshot, dst, stageDir string, o RestoreOptions, rep *reporter, res *Result) (copyOut, error) {
	t0 := time.Now()
	staged, err := copyToTemp(ctx, o.Open, snapshot, filepath.Join(stageDir, filepath.Base(snapshot)), 0o600, nil, nil, rep, "stage")
	if err != nil {
		return staged, err
	}
	res.SnapshotDuration = time.Since(t0)
	if o.ExpectSHA256 != "" && !strings.EqualFold(o.ExpectSHA256, staged.sha256) {
		return staged, fmt.Errorf("%w: snapshot %s has sha256 %s, expected %s; the file was changed or damaged after it was written",
			ErrCorrupt, snapshot, staged.sha256, strings.ToLower(o.ExpectSHA256))
	}
	t0 = time.Now()
	_, pages, _, _ := headerInfo(staged.tmp)
	rep.update(Progress{Phase: "check", Total: pages, Unit: "pages"}, true)
	if err := inspect(ctx, staged.tmp, o.Check, res); err != nil {
		return staged, fmt.Errorf("sqlitesnap: restore %s: snapshot %s: %w", dst, snapshot, err)
	}
	res.Check = "ok"
	res.CheckDuration = time.Since(t0)
	rep.update(Progress{Phase: "check", Done: res.PageCount, Total: res.PageCount, Unit: "pages"}, true)
	return staged, nil
}

// replaceDest is Restore's steps 3 and 4: it writes the staged copy to a
// temp file beside dst, checks once more that dst is not in use, removes
// the old database's files and renames the temp file to dst.
func replaceDest(ctx context.Context, snapshot, dst string, staged copyOut, stagingRoot string, o RestoreOptions, rep *reporter, log *zap.Logger, res *Result) error {
	t0 := time.Now()
	var owner os.FileInfo
	if st, serr := os.Stat(dst); serr == nil {
		owner = st
	}
	perm := os.FileMode(0o644)
	if st, serr := o.Open.stat(snapshot); serr == nil {
		perm = st.Mode().Perm()
	}
	out, err := copyToTemp(ctx, nil, staged.tmp, dst, perm, owner, nil, rep, "copy")
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			os.Remove(out.tmp)
		}
	}()
	if out.sha256 != staged.sha256 {
		return fmt.Errorf("sqlitesnap: restore %s: the staged snapshot changed while it was copied (sha256 %s, then %s); check the staging directory %s",
			dst, staged.sha256, out.sha256, stagingRoot)
	}

	// 4. last in-use check, stale files, rename.
	if err := inUseGate(ctx, dst, o, log); err != nil {
		return err
	}
	removed, err := removeStale(dst)
	if len(removed) > 0 {
		log.Info("removed the old database's files", zap.Strings("files", removed))
	}
	if err != nil {
		return err
	}
	if err := commitTemp(ctx, out.tmp, dst, nil); err != nil {
		return err
	}
	committed = true
	res.CopyDuration = time.Since(t0)
	res.Bytes, res.SHA256 = out.bytes, out.sha256
	log.Info("sqlite snapshot restored", zap.Int64("bytes", res.Bytes), zap.String("sha256", res.SHA256))
	return nil
}
