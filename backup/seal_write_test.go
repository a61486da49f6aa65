package backup_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/seal"
)

// fullAfter writes n bytes, then fails as a full disk does.
type fullAfter struct {
	w io.Writer
	n int
}

func (f *fullAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n, _ := f.w.Write(p[:f.n])
		f.n = 0
		return n, syscall.ENOSPC
	}
	f.n -= len(p)
	return f.w.Write(p)
}

// A sealed classic backup whose ciphertext cannot be written — at age's
// header, in the middle of the chunks, at the last one — fails with the
// write's error in the volume step, leaves nothing in the target and
// starts the stopped service again. Unfailed, the volume is sealed
// (volumes/shared.tar.age) and opens to the bytes the engine exported.
func TestRunSealedWriteFailure(t *testing.T) {
	keys := backuptest.MustAgeKeys(t)
	data := bytes.Repeat([]byte("volume bytes "), 40000) // 520,000 bytes: 8 age chunks
	run := func(failAfter int) (backup.Spec, error) {
		eng := backuptest.NewEngine()
		eng.VolData["shared"] = data
		spec := backuptest.MustSpec(t, eng)
		spec.StopServices = []string{"app"}
		spec.Seal = backuptest.MustSealKeys(t, seal.Config{Recipients: []string{keys.Recipient}})
		if failAfter >= 0 {
			spec.Hooks.WrapWriter = func(step progress.Step, item string, w io.Writer) io.Writer {
				if step == progress.StepVolumes && item == "shared" {
					return &fullAfter{w: w, n: failAfter}
				}
				return w
			}
		}
		_, err := backup.Run(context.Background(), spec, nil)
		if failAfter >= 0 && !eng.IsRunning("c-app") {
			t.Errorf("failing after %d bytes: the stopped service was not started again", failAfter)
		}
		return spec, err
	}
	for _, after := range []int{0, 100, 200 << 10, len(data)} {
		spec, err := run(after)
		if !errors.Is(err, syscall.ENOSPC) || backup.FailedStep(err) != progress.StepVolumes || !strings.Contains(err.Error(), "shared") {
			t.Fatalf("failing after %d bytes: %v", after, err)
		}
		if got := backuptest.MustEntries(t, spec.Target); len(got) != 0 {
			t.Fatalf("failing after %d bytes: the target holds %v", after, got)
		}
	}

	spec, err := run(-1)
	if err != nil {
		t.Fatal(err)
	}
	packs, _ := filepath.Glob(filepath.Join(spec.Target, pack.NamePrefix+"*", "volumes", "shared.tar"+pack.SealedSuffix))
	if len(packs) != 1 {
		t.Fatalf("sealed volume files: %v", packs)
	}
	f, err := os.Open(packs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var plain bytes.Buffer
	idKeys := backuptest.MustSealKeys(t, seal.Config{IdentityFiles: []string{keys.IdentityFile}})
	if _, err := idKeys.Open(context.Background(), &plain, f, nil); err != nil || !bytes.Equal(plain.Bytes(), data) {
		t.Fatalf("the sealed volume opens to %d bytes (%v), want the %d exported", plain.Len(), err, len(data))
	}
}
