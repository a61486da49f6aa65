//go:build integration

package integration_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// TestRestoreTamperedPack: one byte flipped in a volume tar — verify fails
// naming that file with the expected and actual sha256 (library and CLI,
// exit 4), restore refuses and changes nothing; without verification the
// checksum still aborts the import, the volume stays marked incomplete, and
// a restore of the repaired pack refills it without --force.
func TestRestoreTamperedPack(t *testing.T) {
	s := rsSmallStack(t)
	eng := MustEngine(t)
	target := MustTmpfs(t, 64<<20)
	res := rsBackup(t, eng, s.project, target, s.db)
	rel := "volumes/" + s.volume + ".tar"
	fe, ok := res.Manifest.File(rel)
	if !ok {
		t.Fatalf("%s not in the pack", rel)
	}
	if code, out, errOut := rsCLI(t, "verify", res.Pack); code != 0 || !strings.Contains(out, "GOOD") {
		t.Fatalf("dockpack verify of a good pack: exit %d\n%s%s", code, out, errOut)
	}

	path := filepath.Join(res.Pack, filepath.FromSlash(rel))
	rsFlipMid(t, path)
	vr, err := pack.Verify(MustCtx(t), res.Pack, pack.VerifyOptions{StagingDir: t.TempDir()})
	if !errors.Is(err, pack.ErrVerify) || vr.OK {
		t.Fatalf("verify of a tampered pack: %v", err)
	}
	failed := vr.Failed()
	if len(failed) != 1 || failed[0].Path != rel || failed[0].Expected != "sha256 "+fe.SHA256 || !strings.HasPrefix(failed[0].Actual, "sha256 ") ||
		failed[0].Actual == failed[0].Expected {
		t.Fatalf("failed checks %+v", failed)
	}
	if msg := err.Error(); !strings.Contains(msg, rel) || !strings.Contains(msg, fe.SHA256) || !strings.Contains(msg, failed[0].Actual) {
		t.Fatalf("the error does not name the file with expected and actual: %v", err)
	}
	t.Logf("verify: %v", err)
	code, out, errOut := rsCLI(t, "verify", "--json", res.Pack)
	var js struct {
		OK     bool          `json:"ok"`
		Failed []check.Check `json:"failed"`
	}
	if jerr := json.Unmarshal([]byte(out), &js); code != 4 || jerr != nil || js.OK || len(js.Failed) != 1 || js.Failed[0].Path != rel ||
		!strings.Contains(errOut, rel) || !strings.Contains(errOut, fe.SHA256) {
		t.Fatalf("dockpack verify --json: exit %d (%v)\n%s\n%s", code, jerr, out, errOut)
	}

	// Restore refuses and changes nothing.
	if err := dockertest.ForceRemoveContainer(s.cli, s.app); err != nil {
		t.Fatal(err)
	}
	if err := eng.RemoveVolume(MustCtx(t), s.volume, true); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "restored.db")
	_, err = restore.Run(MustCtx(t), res.Pack, restore.Spec{Engine: eng, SQLiteDest: dest, StagingDir: t.TempDir()})
	if !errors.Is(err, pack.ErrVerify) || !strings.Contains(err.Error(), rel) {
		t.Fatalf("restore of a tampered pack: %v", err)
	}
	if _, err := eng.InspectVolume(MustCtx(t), s.volume); !errors.Is(err, dockerapi.ErrVolumeNotFound) {
		t.Fatalf("a refused restore created the volume: %v", err)
	}
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused restore wrote the database")
	}
	if code, out, errOut := rsCLI(t, "restore", "--sqlite-dest", dest, res.Pack); code != 4 || !strings.Contains(errOut, rel) {
		t.Fatalf("dockpack restore of a tampered pack: exit %d\n%s%s", code, out, errOut)
	}

	// Without the verification the checksum stops the import at the end of the file.
	t.Cleanup(func() { _ = eng.ClearVolumeMarks(MustCtx(t), s.volume) })
	rsForget(t, s.cli, s.volume)
	_, err = restore.Run(MustCtx(t), res.Pack, restore.Spec{Engine: eng, SkipVerify: true, Components: []pack.Component{pack.ComponentVolumes}, StagingDir: t.TempDir()})
	if !errors.Is(err, restore.ErrPackChanged) || !errors.Is(err, restore.ErrFailed) {
		t.Fatalf("restore --no-verify of a tampered pack: %v", err)
	}
	if marks, err := eng.VolumeIncompleteMarks(MustCtx(t), s.volume); err != nil || len(marks) != 1 || marks[0] != res.Name {
		t.Fatalf("marks after the failed import: %v %v", marks, err)
	}
	t.Logf("restore --no-verify: %v", err)

	// Repaired, the pack restores over the incomplete volume without --force.
	rsFlipMid(t, path)
	rr, err := restore.Run(MustCtx(t), res.Pack, restore.Spec{Engine: eng, Components: []pack.Component{pack.ComponentVolumes}, StagingDir: t.TempDir()})
	if err != nil {
		t.Fatalf("restore after the repair: %v", err)
	}
	if rr.Plan.Volumes[0].Action != restore.ActionRefill {
		t.Fatalf("plan %+v", rr.Plan.Volumes)
	}
	rsNoLeftovers(t, s.cli, eng, s.volume)
	// Now complete: another restore needs --force.
	_, err = restore.Run(MustCtx(t), res.Pack, restore.Spec{Engine: eng, Components: []pack.Component{pack.ComponentVolumes}, StagingDir: t.TempDir()})
	if !errors.Is(err, restore.ErrRefused) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore over a complete volume: %v", err)
	}
	if code, out, errOut := rsCLI(t, "restore", "--plan", "--components", "volumes", res.Pack); code != 3 || !strings.Contains(out, "REFUSED") {
		t.Fatalf("dockpack restore --plan: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := rsCLI(t, "restore", "--plan", "--force", "--components", "volumes", res.Pack); code != 0 || !strings.Contains(out, "replace") {
		t.Fatalf("dockpack restore --plan --force: exit %d\n%s%s", code, out, errOut)
	}
}
