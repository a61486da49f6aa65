package sqlitesnap_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/internal/owner"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// SnapshotTo writes the same checked snapshot as Snapshot, into the caller's
// writer; the staging directory is private (0700), its copy 0600, and it is
// named after its owner while the snapshot runs.
func TestSnapshotToWriterAndPrivateStaging(t *testing.T) {
	src := filepath.Join(t.TempDir(), "app.db")
	MustDB(t, src, "wal", 20)
	staging := t.TempDir()
	id := owner.Self("")
	var seen []string
	var modes []os.FileMode
	var buf bytes.Buffer
	res, err := sqlitesnap.SnapshotTo(context.Background(), src, &buf, sqlitesnap.Options{StagingDir: staging, Owner: id,
		Progress: func(p sqlitesnap.Progress) {
			if p.Phase != "check" || len(seen) > 0 {
				return
			}
			ents, _ := os.ReadDir(staging)
			for _, e := range ents {
				seen = append(seen, e.Name())
				fi, _ := os.Stat(filepath.Join(staging, e.Name()))
				modes = append(modes, fi.Mode().Perm())
				inner, _ := os.ReadDir(filepath.Join(staging, e.Name()))
				for _, f := range inner {
					fi, _ := os.Stat(filepath.Join(staging, e.Name(), f.Name()))
					modes = append(modes, fi.Mode().Perm())
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	if res.SHA256 != hex.EncodeToString(sum[:]) || res.Bytes != int64(buf.Len()) || res.Dest != "" {
		t.Fatalf("result %+v does not describe the %d bytes written", res, buf.Len())
	}
	if len(seen) != 1 || !strings.HasPrefix(seen[0], "dockpack-sqlitesnap-"+id.Tag()+"-") {
		t.Fatalf("staging entries during the snapshot: %v", seen)
	}
	for _, m := range modes {
		if m&0o077 != 0 {
			t.Fatalf("staging modes %v: the copy of the database must be private", modes)
		}
	}
	if ents := MustDirEntries(t, staging); len(ents) != 0 {
		t.Fatalf("staging left %v", ents)
	}
	// The written snapshot is a database equal to the source.
	p := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if MustInvariant(t, p) != MustInvariant(t, src) {
		t.Fatal("the snapshot written to the writer differs from the source")
	}
}

// RemoveStale removes the staged copies of dead owners only.
func TestRemoveStaleStaging(t *testing.T) {
	root := t.TempDir()
	mk := func(name string, id *owner.Identity, age time.Duration) string {
		dir := filepath.Join(root, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "app.db"), []byte("SQLite format 3\x00secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		if id != nil {
			b, _ := json.Marshal(id)
			os.WriteFile(filepath.Join(dir, "owner.json"), b, 0o600)
		}
		old := time.Now().Add(-age)
		os.Chtimes(dir, old, old)
		return dir
	}
	alive := owner.Self("")
	dead := owner.Identity{Token: owner.NewToken(), Host: alive.Host, PID: alive.PID, ProcStart: alive.ProcStart + "x"}
	deadDir := mk("dockpack-sqlitesnap-dead", &dead, 0)
	aliveDir := mk("dockpack-sqlitesnap-alive", &alive, 48*time.Hour)
	legacyOld := mk("dockpack-sqlitesnap-legacy1", nil, 2*time.Hour)
	legacyNew := mk("dockpack-sqlitesnap-legacy2", nil, time.Minute)
	other := mk("not-ours", &dead, 48*time.Hour)
	removed, err := sqlitesnap.RemoveStale(context.Background(), root, func(id owner.Identity) bool { return id.Dead(alive.Host) })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{deadDir: true, legacyOld: true}
	if len(removed) != 2 || !want[removed[0]] || !want[removed[1]] {
		t.Fatalf("removed %v, want the dead owner's and the old unattributed one", removed)
	}
	for _, d := range []string{aliveDir, legacyNew, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed", d)
		}
	}
}
