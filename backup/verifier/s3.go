package verifier

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/backup/transfer"
)

// localPack is where the verification reads the pack at loc: loc itself
// in a directory; a pack in object storage (s3://…) fetched first into a
// new directory under the staging directory — every object hashed as it
// arrives against the manifest (transfer.Fetch), with the target's s3_*
// settings — which done removes. A pack whose objects do not match its
// manifest as they arrive (transfer.ErrSource) failed: its result is that
// failed check (fetch_verification_failed, naming the file), the pack not
// fetched. A pack that does not fetch for another reason (an unreachable
// service, no room in staging) has no verdict: the error says why.
func (vf *Verifier) localPack(ctx context.Context, loc string, log *zap.Logger) (string, func(), *pack.VerifyResult, error) {
	if !storage.IsS3URL(loc) {
		return loc, func() {}, nil, nil
	}
	s, err := vf.m.Settings(ctx)
	if err != nil {
		return "", nil, nil, err
	}
	so := s3.Options{Endpoint: s.S3Endpoint, Region: s.S3Region, Profile: s.S3Profile, CredentialsFile: s.S3CredentialsFile}
	dir, done, err := transfer.FetchPack(ctx, loc, so, vf.cfg.StagingDir, log)
	if errors.Is(err, transfer.ErrSource) && ctx.Err() == nil {
		c := check.Check{Name: "fetch", Status: check.Fail, Code: "fetch_verification_failed", Path: loc, Detail: err.Error()}
		return "", nil, &pack.VerifyResult{Pack: loc, Checks: []check.Check{c}}, nil
	}
	if err != nil {
		return "", nil, nil, err
	}
	log.Info("pack fetched from object storage for its verification", zap.String("location", loc), zap.String("staging", dir))
	return dir, done, nil, nil
}
