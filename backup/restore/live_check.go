package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/internal/fsutil"
)

// check checks the pack before anything changes: its manifest hash is
// still the expected one, its structure verifies, and its database file
// hashes to the manifest's checksum. Everything is read through the pin.
func (l *liveRestorer) check(ctx context.Context) (LiveChecked, error) {
	s := l.s
	vr, err := pack.Verify(ctx, s.Pack, pack.VerifyOptions{Structural: true, StagingDir: s.StagingDir, Lang: s.Lang, Logger: s.Logger, Dir: l.pd})
	switch {
	case err != nil && !errors.Is(err, pack.ErrVerify):
		return LiveChecked{}, l.refuse(ctx, "restore_pack_verification_failed", false, err, "liverestore.pack_unreadable", s.Pack, err)
	case vr.Manifest == nil: // no manifest to read
		return LiveChecked{}, l.refuse(ctx, "restore_backup_package_not_found", false, err, "liverestore.pack_unreadable", s.Pack, failedChecks(vr))
	case vr.PackageHash != s.PackageHash:
		return LiveChecked{}, l.refuse(ctx, "restore_backup_hash_mismatch", false, nil, "liverestore.pack_changed", vr.PackageHash, s.JobID, s.PackageHash)
	case err != nil:
		return LiveChecked{}, l.refuse(ctx, "restore_pack_verification_failed", false, err, "liverestore.pack_failed", failedChecks(vr))
	}
	m := vr.Manifest
	var ok bool
	if m.SQLite != nil {
		l.fe, ok = m.File(m.SQLite.File)
	}
	if !ok {
		return LiveChecked{}, l.refuse(ctx, "restore_auth_db_missing", false, nil, "liverestore.no_db", s.Pack)
	}
	l.m = m
	chk := LiveChecked{PackageHash: vr.PackageHash, DB: filepath.Join(s.Pack, filepath.FromSlash(l.fe.Path)), DBSHA256: strings.ToLower(l.fe.SHA256)}
	if err := l.pd.CheckKeys(m); err != nil { // a sealed pack without its identity: nothing changed
		if errors.Is(err, seal.ErrNoIdentity) && s.IdentityHint != "" {
			err = fmt.Errorf("%w; this daemon reads the identity from %s", err, s.IdentityHint)
		}
		return LiveChecked{}, l.refuse(ctx, backup.ErrorCode(err), false, err, "liverestore.pack_unreadable", s.Pack, err)
	}
	got, err := l.hashDB(ctx)
	if err != nil {
		return LiveChecked{}, l.refuse(ctx, "restore_pack_verification_failed", false, err, "liverestore.pack_unreadable", chk.DB, err)
	}
	if m.Sealed() {
		// The manifest holds the ciphertext's sha256, which OpenFile checked
		// to the end (and age authenticated every chunk): the plaintext's
		// sha256 is what the restored copy must have.
		chk.DBSHA256 = got
	}
	if got != chk.DBSHA256 {
		return LiveChecked{}, l.refuse(ctx, "restore_pack_verification_failed", false, nil, "liverestore.db_changed", l.fe.Path, got, chk.DBSHA256)
	}
	return chk, nil
}

// hashDB re-hashes the pack's database file, read through the pin.
func (l *liveRestorer) hashDB(ctx context.Context) (string, error) {
	f, err := l.pd.OpenFile(ctx, l.m, l.fe)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var r io.Reader = fsutil.ContextReader(ctx, f)
	if h := l.s.Hooks.WrapReader; h != nil {
		r = h(progress.StepVerify, l.fe.Path, r)
	}
	hw := fsutil.NewHashWriter(nil)
	if _, err := io.Copy(hw, r); err != nil {
		return "", err
	}
	return hw.Sum(), nil
}

// failedChecks names the failed checks of a verification, one line each.
func failedChecks(vr *pack.VerifyResult) string {
	var out []string
	for _, c := range vr.Failed() {
		out = append(out, pack.FormatCheck(c))
	}
	return strings.Join(out, "; ")
}
