//go:build integration

package integration_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/drill"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/backup/settings"
	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// TestStorePacks is issue 12's acceptance on the real engine: the ratio
// volume backed up three times into the pack store (unchanged: ≤ 1 % new
// bytes; after a 1 % change: ≤ 3 %; ≤ 256 files per GiB of new data), the
// round trip after removing the volume, a flipped byte in one bundle, and a
// prune racing a backup of another process.
func TestStorePacks(t *testing.T) {
	v := stFullSize()
	s := stNewStack(t, v, max(3*v.total(), 1<<30))

	t0 := time.Now()
	r1 := s.backup(t)
	w1 := time.Since(t0)
	n1 := r1.Store.Total()
	files := stFiles(t, s.target)
	gib := float64(n1.NewBytes) / (1 << 30)
	t.Logf("first: read %d, new %d (stored %d) in %v; %d files on the target: %.1f per GiB of new data", n1.ReadBytes, n1.NewRawBytes, n1.NewBytes, w1.Round(time.Millisecond), files, float64(files)/gib)
	if float64(files)/gib > 256 {
		t.Errorf("%d files for %.2f GiB of new data: more than 256 per GiB", files, gib)
	}
	r2 := s.backup(t)
	n2 := r2.Store.Total()
	ratio2 := float64(n2.NewBytes) / float64(n1.NewBytes)
	t.Logf("unchanged: new %d stored bytes = %.4f%% of the first", n2.NewBytes, 100*ratio2)
	if ratio2 > 0.01 {
		t.Errorf("second backup of the unchanged volume stored %.2f%% of the first (want ≤ 1%%)", 100*ratio2)
	}
	before3 := stBundles(t, s.target)
	digest2, _ := rsDigest(t, s.cli, s.volume, s.image)
	stImport(t, s.eng, s.volume, s.image, v, true)
	digest3, _ := rsDigest(t, s.cli, s.volume, s.image)
	dump := rsDump(t, s.db)
	r3 := s.backup(t)
	n3 := r3.Store.Total()
	ratio3 := float64(n3.NewBytes) / float64(n1.NewBytes)
	t.Logf("1%% change: new %d stored bytes = %.3f%% of the first", n3.NewBytes, 100*ratio3)
	if ratio3 > 0.03 {
		t.Errorf("backup after a 1%% change stored %.2f%% of the first (want ≤ 3%%)", 100*ratio3)
	}
	stReport("store ratios (%d MiB volume): first %d bytes stored, %.1f files/GiB; unchanged %.4f%%; 1%% change %.3f%%",
		v.total()>>20, n1.NewBytes, float64(files)/gib, 100*ratio2, 100*ratio3)

	t.Run("packs-and-plan", func(t *testing.T) {
		// dockpack packs: each store pack's logical size and the bytes it added.
		code, out, errOut := rsCLI(t, "packs", "--target", s.target, "--json")
		var list struct{ Packs []pack.Info }
		if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
			t.Fatalf("packs --json: %d\n%s%s", code, out, errOut)
		}
		added := map[string]int64{}
		for _, p := range list.Packs {
			added[p.Name] = p.Added
			if p.Format != pack.FormatStore || p.Size < v.total() {
				t.Errorf("packs: %s format %d size %d (the volume holds %d)", p.Name, p.Format, p.Size, v.total())
			}
		}
		for _, r := range []*backup.Result{r1, r2, r3} {
			if added[r.Name] != r.Store.Total().NewBytes {
				t.Errorf("packs: %s added %d, its backup stored %d", r.Name, added[r.Name], r.Store.Total().NewBytes)
			}
		}
		// dockpack plan --format store: the bytes the store lacks, by the
		// share the newest store pack (r3, the 1 % change) added.
		code, out, errOut = rsCLI(t, "plan", "--project", s.project, "--target", s.target, "--sqlite", s.db, "--fstype", "tmpfs",
			"--no-images", "--format", "store", "--json")
		var pj struct {
			EstimateBytes int64             `json:"estimate_bytes"`
			Store         *backup.StorePlan `json:"store"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &pj) != nil || pj.Store == nil {
			t.Fatalf("plan --format store: %d\n%s%s", code, out, errOut)
		}
		vol := pj.Store.Components["volumes"]
		t.Logf("plan: the store lacks %d of %d (volumes %+v; the 1%% change stored %d)", pj.Store.Lacks(), pj.Store.Size(), vol, n3.NewRawBytes)
		if pj.Store.Basis != r3.Name || vol.How != backup.LackHistory || vol.Lacks <= 0 || vol.Lacks > vol.Size*3/100 {
			t.Errorf("plan's store estimate %+v: want the volumes' by the history of %s, > 0 and ≤ 3 %% of them", pj.Store, r3.Name)
		}
	})

	t.Run("round-trip", func(t *testing.T) {
		ctx := stCtx(t) // a fresh per-call deadline (the full-size run is long)
		dockertest.ForceRemoveContainer(s.cli, s.app)
		dockertest.RemoveVolume(t, s.cli, s.volume)
		dest := filepath.Join(t.TempDir(), "auth.db")
		if _, err := restore.Run(ctx, r3.Pack, restore.Spec{Engine: s.eng, SQLiteDest: dest, StagingDir: t.TempDir()}); err != nil {
			t.Fatalf("restore of the store pack: %v", err)
		}
		if got, _ := rsDigest(t, s.cli, s.volume, s.image); got != digest3 {
			t.Errorf("the restored volume differs (paths, modes, owners, links, bytes)")
		}
		if rsDump(t, dest) != dump {
			t.Errorf("the restored database's dump differs")
		}
	})

	t.Run("flipped-byte", func(t *testing.T) {
		ctx := stCtx(t) // a fresh per-call deadline (the full-size run is long)
		var mine []string
		for b := range stBundles(t, s.target) {
			if !before3[b] {
				mine = append(mine, b)
			}
		}
		if len(mine) == 0 {
			t.Fatal("the third backup wrote no bundle")
		}
		rsFlipMid(t, mine[0])
		id := filepath.Base(mine[0])
		vr, err := pack.Verify(ctx, r3.Pack, pack.VerifyOptions{StagingDir: t.TempDir()})
		if !errors.Is(err, pack.ErrVerify) {
			t.Fatalf("full verify of the damaged pack: %v", err)
		}
		found := false
		for _, c := range vr.Failed() {
			if c.Code == pack.CodeBlobDamaged && strings.Contains(c.Detail, id) && strings.Contains(c.Detail, r3.Name) &&
				!strings.Contains(c.Detail, r1.Name) && !strings.Contains(c.Detail, r2.Name) {
				found = true
			}
		}
		if !found {
			t.Fatalf("the failure does not name bundle %s and exactly the packs using it: %v", id, err)
		}
		if _, err := restore.Run(ctx, r3.Pack, restore.Spec{Engine: s.eng, Components: []pack.Component{pack.ComponentVolumes}, Force: true}); !errors.Is(err, pack.ErrVerify) {
			t.Fatalf("restore of the damaged pack was not refused: %v", err)
		}
		dockertest.RemoveVolume(t, s.cli, s.volume)
		if _, err := restore.Run(ctx, r2.Pack, restore.Spec{Engine: s.eng, Components: []pack.Component{pack.ComponentVolumes}}); err != nil {
			t.Fatalf("restore of an unaffected pack: %v", err)
		}
		if got, _ := rsDigest(t, s.cli, s.volume, s.image); got != digest2 {
			t.Errorf("the volume restored from the unaffected pack differs")
		}
	})

	t.Run("prune-vs-backup", func(t *testing.T) {
		ctx := stCtx(t) // a fresh per-call deadline (the full-size run is long)
		s.app = dockertest.MustContainer(t, s.cli, dockertest.ContainerSpec{Name: s.project + "_app_1", Image: s.image,
			Labels: dockertest.ComposeLabels(s.project, "app", 1), Mounts: []dockertest.Mount{{Type: "volume", Source: s.volume, Target: "/data"}}})
		t.Cleanup(func() { dockertest.ForceRemoveContainer(s.cli, s.app) })
		spec := s.spec(t)
		held, release := make(chan struct{}), make(chan struct{})
		var once bool
		spec.Hooks.WrapWriter = func(step progress.Step, item string, w io.Writer) io.Writer {
			return writerFunc(func(p []byte) (int, error) {
				if !once && step == progress.StepVolumes {
					once = true
					close(held)
					<-release
				}
				return w.Write(p)
			})
		}
		done := make(chan error, 1)
		var r4 *backup.Result
		go func() {
			var err error
			r4, err = backup.Run(ctx, spec, nil)
			done <- err
		}()
		<-held
		code, out, errOut := rsCLI(t, "prune", "--target", s.target, "--project", s.project, "--keep", "1", "--log-level", "error")
		if code == 0 || !strings.Contains(out+errOut, "backup of "+s.project) {
			t.Errorf("prune while a backup writes exited %d, want a refusal naming the backup:\n%s%s", code, out, errOut)
		}
		// A prune that waits (--lock-wait) while the backup writes: it
		// takes the store once the backup released it, and keeps its pack.
		waiting := exec.Command(dmBinary(t), "prune", "--target", s.target, "--project", s.project, "--keep", "1", "--lock-wait", "3m", "--json", "--log-level", "error")
		var wout strings.Builder
		waiting.Stdout, waiting.Stderr = &wout, &wout
		if err := waiting.Start(); err != nil {
			t.Fatal(err)
		}
		waited := make(chan error, 1)
		go func() { waited <- waiting.Wait() }()
		t.Cleanup(func() { _ = waiting.Process.Kill() })
		tried := false // its lease appears for a moment at each try
		locks := filepath.Join(s.target, filepath.FromSlash(store.LocksPrefix))
		for until := time.Now().Add(30 * time.Second); !tried && time.Now().Before(until); time.Sleep(time.Millisecond) {
			ents, _ := os.ReadDir(locks)
			for _, e := range ents {
				tried = tried || strings.HasPrefix(e.Name(), "exclusive")
			}
		}
		select {
		case err := <-waited:
			t.Fatalf("the waiting prune ended while the backup held the store: %v\n%s", err, wout.String())
		default:
		}
		if !tried {
			t.Errorf("the waiting prune never tried the store's lease")
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("the backup a prune raced: %v", err)
		}
		if err := <-waited; err != nil {
			t.Fatalf("the prune that waited for the backup: %v\n%s", err, wout.String())
		}
		if _, err := pack.Verify(ctx, r4.Pack, pack.VerifyOptions{StagingDir: t.TempDir()}); err != nil {
			t.Fatalf("the backup a prune raced does not verify after the prune that waited: %v", err)
		}
		packs, _ := pack.List(ctx, s.target)
		if len(packs) != 1 || packs[0].Name != r4.Name {
			t.Fatalf("after prune --keep 1: %v", packs)
		}
		// Exactly what the remaining pack uses stays in the store.
		used, err := pack.UsedBlobs(ctx, r4.Pack)
		if err != nil {
			t.Fatal(err)
		}
		b, err := local.Open(ctx, local.Options{Dir: s.target})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		st, err := store.Open(ctx, b, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		cr, err := st.Check(ctx, store.CheckOptions{ReadData: true})
		if err != nil || len(cr.Damaged) > 0 || cr.Unindexed > 0 || cr.Blobs != len(used) {
			t.Fatalf("after prune the store holds %d blobs (%d damaged, %d unindexed bundles), the remaining pack uses %d: %v",
				cr.Blobs, len(cr.Damaged), cr.Unindexed, len(used), err)
		}
		if _, err := pack.Verify(ctx, r4.Pack, pack.VerifyOptions{StagingDir: t.TempDir()}); err != nil {
			t.Fatalf("the kept pack after prune: %v", err)
		}
	})

	t.Run("drill", func(t *testing.T) {
		// A restore drill (the daemon's jobs.Manager) of a store pack the
		// manager's own job wrote (pack_format store): the pack verifies
		// in full and the database restores into staging.
		ctx := stCtx(t)
		set := settings.Default()
		set.TargetLocalDir, set.RagflowProjectName, set.AuthDBPath, set.PackFormat = s.target, s.project, s.db, backup.FormatStore
		m, err := jobs.NewManager(ctx, jobs.Config{StateDir: t.TempDir(), Engine: s.eng, Settings: set, Policy: tmpfsPolicy,
			StagingDir: t.TempDir(), DisableScheduler: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(context.Background()) })
		j, err := m.Start(ctx, jobs.Request{Components: []pack.Component{pack.ComponentDB, pack.ComponentVolumes}})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Minute)
		for j.Status.Active() && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			if j, err = m.Get(ctx, j.ID); err != nil {
				t.Fatal(err)
			}
		}
		if j.Status != jobs.StatusCompleted || j.OutputDir == nil || j.PackageHash == nil {
			t.Fatalf("the store backup job: %+v", j)
		}
		if m, _, err := pack.ReadManifest(ctx, *j.OutputDir); err != nil || !m.IsStore() {
			t.Fatalf("the job's pack is not a store pack: %v", err)
		}
		for li, _ := m.Lock(ctx); li.Held && time.Now().Before(deadline); li, _ = m.Lock(ctx) {
			time.Sleep(50 * time.Millisecond) // the job's lease goes a moment after its final state
		}
		d, err := m.RunDrill(ctx, drill.Request{JobID: j.ID, BackupPath: *j.OutputDir, BackupHash: *j.PackageHash, RestoreTarget: "staging"})
		if err != nil || d.AcceptanceStatus != drill.Passed || d.PackageValidationStatus != drill.Passed || !d.HashMatch {
			t.Fatalf("drill of a store pack: %v %+v", err, d)
		}
	})
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
