package backup

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/internal/owner"
)

func sinkKeys(t *testing.T, b storage.Backend, prefix string) []string {
	t.Helper()
	var out []string
	if err := b.List(context.Background(), prefix, func(in storage.Info) error { out = append(out, in.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func sinkWrite(t *testing.T, s *objSink, rel, body string) {
	t.Helper()
	if _, _, err := s.WriteFile(context.Background(), rel, nil, func(w io.Writer) error { _, err := io.WriteString(w, body); return err }); err != nil {
		t.Fatal(err)
	}
}

// The object sink (a pack on a backend without a rename): an owner record
// first; each file an object as it is written; manifest.json held back
// and written last, exclusively; Abort removes what was written; a pack of
// the same name is refused at the start and at the commit.
func TestObjSink(t *testing.T) {
	ctx := context.Background()
	b, err := local.Open(ctx, local.Options{Dir: t.TempDir(), Owner: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	id := owner.Self("")
	const name = pack.NamePrefix + "20261205_101500_000"
	s, err := createObjSink(ctx, b, name, id, nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if recs := sinkKeys(t, b, RemotePartialsPrefix); len(recs) != 1 || !strings.Contains(recs[0], name) {
		t.Fatalf("owner records %v", recs)
	}
	sinkWrite(t, s, "volumes/v.tar", "data")
	sinkWrite(t, s, pack.ManifestFile, "{}")
	sinkWrite(t, s, pack.SumsFile, "sums")
	if got := sinkKeys(t, b, name+"/"); strings.Join(got, ",") != name+"/"+pack.SumsFile+","+name+"/volumes/v.tar" {
		t.Fatalf("before the commit: %v (no manifest yet)", got)
	}
	if err := s.Commit(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, name+"/"+pack.ManifestFile); err != nil {
		t.Fatalf("manifest after the commit: %v", err)
	}
	if recs := sinkKeys(t, b, RemotePartialsPrefix); len(recs) != 0 {
		t.Fatalf("owner records after the commit: %v", recs)
	}
	if err := s.Abort(); err != nil || len(sinkKeys(t, b, name+"/")) != 3 {
		t.Fatalf("Abort after Commit: %v", err)
	}
	if _, err := createObjSink(ctx, b, name, id, nil, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("a second pack of the same name: %v", err)
	}

	const other = pack.NamePrefix + "20261205_101600_000"
	s, err = createObjSink(ctx, b, other, id, nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	sinkWrite(t, s, "db/auth.db", "x")
	if err := s.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := append(sinkKeys(t, b, other+"/"), sinkKeys(t, b, RemotePartialsPrefix)...); len(got) != 0 {
		t.Fatalf("after Abort: %v", got)
	}

	// Another writer's manifest under the name meanwhile: the commit fails.
	s, err = createObjSink(ctx, b, other, id, nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	sinkWrite(t, s, pack.ManifestFile, "{}")
	if _, err := storage.WriteObject(ctx, b, other+"/"+pack.ManifestFile, strings.NewReader("theirs"), storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, nil); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("commit over another writer's manifest: %v", err)
	}
}
