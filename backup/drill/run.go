package drill

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// Options say where a drill restores and stages.
type Options struct {
	// Dir is the folder of this restore_target: the database is restored
	// into Dir/<drill id>/; earlier drills' folders there are removed.
	Dir string
	// StagingDir is local scratch space. Default os.TempDir().
	StagingDir string
	// Logger receives structured logs. Default zap.NewNop().
	Logger *zap.Logger
	// Progress receives the verification's byte-level progress. May be nil.
	Progress progress.Func
	// Keys open a sealed pack (nil: none; the drill of a sealed pack is
	// then blocked, its check naming the identity and IdentityHint).
	Keys *seal.Keys
	// IdentityHint says where the identity is configured ("the setting
	// age_identity_file").
	IdentityHint string
}

// drilling is one drill's work in progress.
type drilling struct {
	d       *Drill
	o       Options
	pd      *pack.Dir // the pack, read through its pin (nil: unreachable)
	blocked bool      // a check could not run to its end
}

// Run verifies d's pack, restores its SQLite snapshot under o.Dir and fills
// in d's verdict and report. It never fails: what goes wrong is a check.
func Run(ctx context.Context, d *Drill, o Options) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	start := time.Now()
	dr := &drilling{d: d, o: o}
	// The pack is read through its mount pin: a share that drops mid-drill
	// blocks the drill with mount_changed, never with a garbled read.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if pd, err := pack.OpenDir(ctx, d.BackupPath, cancel); err == nil {
		dr.pd = pd
		defer pd.Close()
	}
	vr, verr := dr.verify(ctx)
	dr.hash()
	dr.restore(ctx, vr, verr)
	dr.verdict()
	d.VerificationReport.DurationMs = time.Since(start).Milliseconds()
}

// add appends a check to the report, naming it among the failed ones when it failed.
func (dr *drilling) add(c check.Check) {
	rep := &dr.d.VerificationReport
	rep.Checks = append(rep.Checks, c)
	if c.Status != check.Fail && c.Status != check.Blocked {
		return
	}
	if c.Status == check.Blocked {
		dr.blocked = true
	}
	s := c.Name
	if c.Path != "" {
		s = c.Path
	}
	if c.Expected != "" || c.Actual != "" {
		s += fmt.Sprintf(": expected %s, actual %s", c.Expected, c.Actual)
	} else if c.Detail != "" {
		s += ": " + c.Detail
	}
	rep.Failed = append(rep.Failed, s)
}

// verify verifies the pack fully; its checks become the report's.
func (dr *drilling) verify(ctx context.Context) (*pack.VerifyResult, error) {
	d := dr.d
	vr, verr := pack.Verify(ctx, d.BackupPath, pack.VerifyOptions{StagingDir: dr.o.StagingDir, Logger: dr.o.Logger, Dir: dr.pd, Progress: dr.o.Progress, Keys: dr.o.Keys})
	if errors.Is(verr, seal.ErrNoIdentity) && dr.o.IdentityHint != "" {
		verr = fmt.Errorf("%w; this daemon reads the identity from %s", verr, dr.o.IdentityHint)
	}
	switch {
	case verr == nil:
		d.PackageValidationStatus = Passed
	case errors.Is(verr, pack.ErrVerify):
		d.PackageValidationStatus = Failed
	default:
		d.PackageValidationStatus, dr.blocked = Blocked, true
	}
	if vr != nil {
		d.VerificationReport.Bytes = vr.Bytes
		d.ActualBackupHash = vr.PackageHash
		for _, c := range vr.Checks {
			if !c.OK() && c.Kind == string(pack.FileDir) { // the pack itself is unreachable
				c.Status = check.Blocked
				d.PackageValidationStatus = Blocked
			}
			dr.add(check.Check{Name: c.Name, Status: c.Status, Code: c.Code, Path: c.Path, Kind: c.Kind,
				Expected: c.Expected, Actual: c.Actual, Detail: c.Detail})
		}
	}
	if verr != nil && !errors.Is(verr, pack.ErrVerify) {
		dr.add(check.Check{Name: "verify", Status: check.Blocked, Code: backup.ErrorCode(verr), Detail: verr.Error()})
	}
	return vr, verr
}

// hash compares the pack's package hash (sha256 of manifest.json) with the job's.
func (dr *drilling) hash() {
	d := dr.d
	d.HashMatch = d.ActualBackupHash != "" && d.ActualBackupHash == d.BackupHash
	c := check.Check{Name: "package_hash", Status: check.OK, Path: pack.ManifestFile,
		Detail: "the sha256 of manifest.json equals the job's package_hash"}
	switch {
	case d.ActualBackupHash == "":
		c.Status, c.Detail = check.Blocked, "manifest.json could not be read"
		c.Expected, c.Actual = d.BackupHash, d.ActualBackupHash
	case !d.HashMatch:
		c.Status, c.Detail = check.Fail, "manifest.json changed since the backup recorded its hash"
		c.Expected, c.Actual = d.BackupHash, d.ActualBackupHash
	}
	dr.add(c)
}

// restore restores the pack's SQLite snapshot into the drill's folder and
// compares it with the snapshot.
func (dr *drilling) restore(ctx context.Context, vr *pack.VerifyResult, verr error) {
	d := dr.d
	c := check.Check{Name: "restore_sqlite"}
	switch {
	case vr == nil || vr.Manifest == nil || verr != nil:
		c.Status, c.Detail = check.Skip, "the pack did not pass verification"
	case vr.Manifest.SQLite == nil:
		c.Status, c.Detail = check.Skip, "the pack holds no database"
	default:
		fe, _ := vr.Manifest.File(vr.Manifest.SQLite.File)
		c.Path = fe.Path
		dest := filepath.Join(dr.o.Dir, d.DrillID, filepath.Base(fe.Path))
		res, err := dr.restoreDB(ctx, vr.Manifest, fe, dest)
		switch {
		case err == nil && vr.Manifest.Sealed():
			// The manifest holds the ciphertext's sha256: StageFile checked it
			// to the end and age authenticated every chunk of the plaintext.
			d.RestoredAuthDBPath, d.RestoredAuthDBHash = &dest, &res.SHA256
			d.CompareMatch = true
			c.Status, c.Detail = check.OK, fmt.Sprintf("restored to %s and checked (%s); the sealed file's ciphertext sha256 equals the pack's and age authenticated every chunk", dest, res.Check)
			if vr.Manifest.IsStore() { // chunks of an encrypted store: each opened and named again by its keyed hash
				c.Detail = fmt.Sprintf("restored to %s and checked (%s); every chunk of the encrypted store opened (age authenticated it) and matched its keyed name", dest, res.Check)
			}
			pruneDirs(dr.o.Dir, d.DrillID, dr.o.Logger)
		case err == nil:
			d.RestoredAuthDBPath, d.RestoredAuthDBHash = &dest, &res.SHA256
			d.CompareMatch = res.SHA256 == fe.SHA256
			c.Status, c.Detail = check.OK, fmt.Sprintf("restored to %s and checked (%s); sha256 equals the pack's", dest, res.Check)
			if !d.CompareMatch {
				c.Status, c.Expected, c.Actual = check.Fail, "sha256 "+fe.SHA256, "sha256 "+res.SHA256
				c.Detail = "the restored database differs from the snapshot in the pack"
			}
			pruneDirs(dr.o.Dir, d.DrillID, dr.o.Logger)
		case errors.Is(err, sqlitesnap.ErrCorrupt), errors.Is(err, sqlitesnap.ErrNotDatabase):
			c.Status, c.Detail = check.Fail, err.Error()
		default:
			c.Status, c.Detail = check.Blocked, err.Error()
		}
	}
	dr.add(c)
}

// verdict sets the drill's acceptance status and result.
func (dr *drilling) verdict() {
	d := dr.d
	anyFailed := slices.ContainsFunc(d.VerificationReport.Checks, func(c check.Check) bool { return c.Status == check.Fail })
	switch {
	case len(d.VerificationReport.Failed) == 0 && d.PackageValidationStatus == Passed:
		d.AcceptanceStatus, d.Result = Passed, "success"
	case dr.blocked && !anyFailed:
		d.AcceptanceStatus, d.Result = Blocked, "failed"
	default:
		d.AcceptanceStatus, d.Result = Failed, "failed"
	}
}

// restoreDB restores the pack's snapshot fe into dest (a fresh drill folder).
func (dr *drilling) restoreDB(ctx context.Context, m *pack.Manifest, fe pack.FileEntry, dest string) (sqlitesnap.Result, error) {
	if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
		return sqlitesnap.Result{}, fmt.Errorf("create the drill folder: %w", err)
	}
	o := sqlitesnap.RestoreOptions{StagingDir: dr.o.StagingDir, ExpectSHA256: fe.SHA256}
	if m.Sealed() { // fe.SHA256 is the ciphertext's, checked by StageFile
		o.ExpectSHA256 = ""
	}
	if dr.pd != nil {
		// A store pack's snapshot is assembled from its chunks in staging first.
		open, cleanup, err := dr.pd.StageFile(ctx, m, fe, dr.o.StagingDir)
		if err != nil {
			return sqlitesnap.Result{}, err
		}
		defer cleanup()
		o.Open = open
	} else if m.IsStore() {
		return sqlitesnap.Result{}, fmt.Errorf("the pack %s cannot be opened", dr.d.BackupPath)
	}
	return sqlitesnap.Restore(ctx, filepath.Join(dr.d.BackupPath, filepath.FromSlash(fe.Path)), dest, o)
}

// pruneDirs removes earlier drills' folders under dir.
func pruneDirs(dir, keep string, log *zap.Logger) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "restore_drill_") && e.Name() != keep {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				log.Warn("cannot remove an earlier drill's folder", zap.String("dir", e.Name()), zap.Error(err))
			}
		}
	}
}
