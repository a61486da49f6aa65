//go:build integration

package integration_test

import (
	"errors"
	"io"
	"testing"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/restore"
)

// A restore that fails midway leaves its half-filled volume marked
// incomplete; running the same restore again (no --force) refills it, and the
// result is identical to the original.
func TestRestoreAgainAfterAFailedRestore(t *testing.T) {
	s := rsSmallStack(t)
	eng := MustEngine(t)
	target := MustTmpfs(t, 64<<20)
	res := rsBackup(t, eng, s.project, target, s.db)
	copyProject := s.project + "copy"
	copyVolume := copyProject + "_data"
	rsForget(t, s.cli, copyVolume)

	spec := func() restore.Spec {
		return restore.Spec{Engine: eng, Project: copyProject, StagingDir: t.TempDir(),
			Components: []pack.Component{pack.ComponentVolumes}}
	}
	boom := errors.New("the share went away mid-read")
	failing := spec()
	failing.Hooks.WrapReader = func(step progress.Step, item string, r io.Reader) io.Reader {
		if step == progress.StepVolumes {
			return io.MultiReader(io.LimitReader(r, 64<<10), rsFailReader{boom})
		}
		return r
	}
	_, err := restore.Run(MustCtx(t), res.Pack, failing)
	if !errors.Is(err, restore.ErrFailed) || !errors.Is(err, boom) {
		t.Fatalf("first restore: %v, want ErrRestore wrapping the read error", err)
	}
	if marks, err := eng.VolumeIncompleteMarks(MustCtx(t), copyVolume); err != nil || len(marks) == 0 {
		t.Fatalf("the half-filled volume %s is not marked incomplete: %v %v", copyVolume, marks, err)
	}
	t.Logf("first restore failed as arranged: %v", err)

	again, err := restore.Run(MustCtx(t), res.Pack, spec())
	if err != nil {
		t.Fatalf("second restore (no force): %v", err)
	}
	if len(again.Plan.Volumes) != 1 || again.Plan.Volumes[0].Target != copyVolume || again.Plan.Volumes[0].Action != restore.ActionRefill {
		t.Fatalf("second restore plan: %+v", again.Plan.Volumes)
	}
	rsNoLeftovers(t, s.cli, eng, copyVolume)
	orig, _ := rsDigest(t, s.cli, s.volume, s.image)
	restored, _ := rsDigest(t, s.cli, copyVolume, s.image)
	if orig != restored {
		t.Fatalf("content digest of the refilled volume %s differs from the original", copyVolume)
	}
}

type rsFailReader struct{ err error }

func (r rsFailReader) Read([]byte) (int, error) { return 0, r.err }
