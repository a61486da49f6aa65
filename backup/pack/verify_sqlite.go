package pack

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/go-units"

	"github.com/dockpack/dockpack/sqlitesnap"
)

// stageAndCheckSQLite copies the snapshot stream into a private staging
// directory and checks the copy there. It returns what the check found
// wrong ("" = fine); an error only when staging is unusable or ctx ends.
func stageAndCheckSQLite(ctx context.Context, r io.Reader, f FileEntry, o VerifyOptions) (string, error) {
	if err := os.MkdirAll(o.StagingDir, 0o700); err != nil {
		return "", fmt.Errorf("verify: staging directory %s: %w", o.StagingDir, err)
	}
	dir, err := os.MkdirTemp(o.StagingDir, "dockpack-verify-*")
	if err != nil {
		return "", fmt.Errorf("verify: create a staging directory in %s: %w (set the staging dir to a local directory with room for %s)",
			o.StagingDir, err, units.BytesSize(float64(f.Size)))
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, filepath.Base(f.Path))
	out, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("verify: staging copy %s: %w", p, err)
	}
	_, err = io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		return "", fmt.Errorf("verify: copy %s to staging %s: %w", f.Path, dir, err)
	}
	if err := sqlitesnap.Check(ctx, p, o.SQLiteCheck); err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		return strings.ReplaceAll(err.Error(), p, f.Path), nil
	}
	return "", nil
}
