package jobs

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/drill"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/settings"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/backup/transfer"
)

// A target setting written s3://bucket/prefix is object storage: its
// endpoint, region, profile and credentials file are settings of their
// own (no secret is one); its packs are listed and pruned through its
// backend (backup/transfer).

// s3Options are the settings' object storage options (empty: the AWS
// variables and files of the daemon's process).
func s3Options(s settings.Settings) s3.Options {
	return s3.Options{Endpoint: s.S3Endpoint, Region: s.S3Region, Profile: s.S3Profile, CredentialsFile: s.S3CredentialsFile}
}

// listTarget lists the packs of the configured target (a directory or s3://).
func listTarget(ctx context.Context, s settings.Settings) ([]pack.Info, error) {
	return transfer.ListTarget(ctx, s.TargetLocalDir, s3Options(s))
}

// runDrill runs a drill of d's pack: one in object storage is fetched into
// local staging first (every object hashed as it arrives; transfer.Fetch)
// and drilled there, the drill naming the s3:// pack; a fetch that fails
// (a damaged or missing pack, an unreachable service) blocks the drill
// with that error.
func (m *Manager) runDrill(ctx context.Context, d *drill.Drill, o drill.Options) {
	if !storage.IsS3URL(d.BackupPath) {
		drill.Run(ctx, d, o)
		return
	}
	loc := d.BackupPath
	defer func() { d.BackupPath = loc }()
	local, cleanup, ferr := m.fetchS3(ctx, loc)
	if ferr != nil {
		d.BackupPath = filepath.Join(os.TempDir(), "dockpack-unfetched-"+path.Base(loc)) // absent: the drill is blocked
		drill.Run(ctx, d, o)
		c := check.Check{Name: "fetch", Status: check.Blocked, Code: "fetch_failed", Path: loc, Detail: ferr.Error()}
		if errors.Is(ferr, transfer.ErrSource) || errors.Is(ferr, transfer.ErrArrival) {
			c.Status, c.Code = check.Fail, "fetch_verification_failed"
		}
		d.VerificationReport.Checks = append(d.VerificationReport.Checks, c)
		d.VerificationReport.Failed = append(d.VerificationReport.Failed, loc+": "+ferr.Error())
		return
	}
	defer cleanup()
	d.BackupPath = local
	drill.Run(ctx, d, o)
}

// fetchS3 fetches the pack at loc (s3://…/migration_pack_…) into a new
// directory under the staging directory.
func (m *Manager) fetchS3(ctx context.Context, loc string) (string, func(), error) {
	s, err := m.loadSettings(ctx)
	if err != nil {
		return "", nil, err
	}
	return transfer.FetchPack(ctx, loc, s3Options(s), m.cfg.StagingDir, m.log)
}
