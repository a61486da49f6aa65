//go:build integration

package integration_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/backup/store"
)

// Encryption at rest of the pack store (issue 16, docs/encryption.md §4).

// sealStorePlainHashes opens the sealed store pack p with the identity and
// returns the plaintext sha256 of each of its database and volume files
// and of every chunk of them (what must never be at rest), checking on the
// way that each file's recorded checksum is not its sha256.
func sealStorePlainHashes(t testing.TB, p, idFile string) []string {
	t.Helper()
	ctx := MustCtx(t)
	keys, err := seal.Load(ctx, seal.Config{IdentityFiles: []string{idFile}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := pack.OpenDir(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.SetKeys(keys)
	m, _, err := pack.ReadManifest(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	var sums []string
	for _, f := range m.Files {
		if f.Kind != pack.FileSQLite && f.Kind != pack.FileVolume {
			continue // image configs and layers are named by their public digests (metadata, §2)
		}
		l, err := d.ReadChunkList(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := d.OpenFile(ctx, m, f)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		whole := sha256.Sum256(data)
		if hex.EncodeToString(whole[:]) == f.SHA256 {
			t.Errorf("%s: the manifest records the plaintext's sha256", f.Path)
		}
		sums = append(sums, hex.EncodeToString(whole[:]))
		var off int64
		for _, c := range l.Chunks {
			s := sha256.Sum256(data[off : off+c.Size])
			off += c.Size
			sums = append(sums, hex.EncodeToString(s[:]))
		}
	}
	if len(sums) < 4 { // the database and the volume, each at least one chunk
		t.Fatalf("%d plaintext hashes, want the database's and the volume's", len(sums))
	}
	return sums
}

// sealReadFile is the content of the file at p.
func sealReadFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSealStoreDir: an encrypted pack store on a directory (tmpfs) through
// the CLI — nothing at rest holds a fragment of the volume, the SQLite
// header or a plaintext sha256 of a file or chunk; the naming key file is
// 0600 and config.json records its fingerprint and no polynomial; a second
// unchanged backup stores ≤ 1 % new bytes; a host without the key file
// recovers it with an identity (--age-identity); a plaintext run (store or
// classic), another store's key file and no key file are refused before
// writing, and plan says so first; prune needs no identity; verify is structural without an
// identity, refused in full without or with a wrong one, good with it;
// export with the identity gives a plaintext classic pack; restore refused
// without the identity (nothing changed), with it the volume, image and
// database as they were.
func TestSealStoreDir(t *testing.T) {
	s := rsSmallStack(t)
	eng := MustEngine(t)
	ctx := MustCtx(t)
	k := mustSealKeys(t)
	target := MustTmpfs(t, 96<<20)
	keyFile := filepath.Join(t.TempDir(), "naming-key.json")
	before, _ := rsDigest(t, s.cli, s.volume, s.image)
	dumpBefore := rsDump(t, s.db)
	wantImage, err := eng.ImageConfigDigest(ctx, s.image)
	if err != nil {
		t.Fatal(err)
	}
	sealed := []string{"--format", "store", "--age-recipients-file", k.recipientsFile, "--age-naming-key", keyFile}

	t0 := time.Now()
	p1 := sealCLIBackup(t, nil, s, target, sealed...)
	t.Logf("first encrypted store backup in %s", time.Since(t0).Round(time.Millisecond))
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("naming key file: %v %v", fi, err)
	}
	m1, _, err := pack.ReadManifest(ctx, p1)
	if err != nil {
		t.Fatal(err)
	}
	if !m1.IsStore() || m1.Encryption == nil || m1.Encryption.Recipients[0] != k.recipient || m1.Store == nil {
		t.Fatalf("manifest: format %d, encryption %+v", m1.FormatVersion, m1.Encryption)
	}
	nk, err := seal.ReadKeyFile(ctx, keyFile, m1.Store.ID)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filesAtRest(t, filepath.Join(target, ".dockpack"))[filepath.Join(target, filepath.FromSlash(store.ConfigKey))]
	if !bytes.Contains(cfg, []byte(nk.Fingerprint())) || bytes.Contains(cfg, []byte(`"polynomial": "0x`)) {
		t.Fatalf("config.json:\n%s", cfg)
	}

	// Nothing at rest: no fragment, no SQLite header, no plaintext sha256.
	atRest := filesAtRest(t, target)
	plain := sealStorePlainHashes(t, p1, k.idFile)
	frags := sealFragments(s)
	for _, h := range plain {
		frags = append(frags, []byte(h))
	}
	for name, b := range atRest {
		for _, f := range frags {
			if bytes.Contains(b, f) {
				t.Errorf("%s holds %q…", name, f[:min(len(f), 16)])
			}
		}
	}
	t.Logf("%d files at rest searched for %d fragments and %d plaintext sha256", len(atRest), len(frags)-len(plain), len(plain))

	// A second unchanged backup: dedup across encrypted backups.
	p2 := sealCLIBackup(t, nil, s, target, sealed...)
	m2, _, err := pack.ReadManifest(ctx, p2)
	if err != nil {
		t.Fatal(err)
	}
	ratio := float64(m2.Store.NewBytes) / float64(m1.Store.NewBytes)
	t.Logf("unchanged: new %d stored bytes = %.4f%% of the first's %d (reused %d plaintext bytes)", m2.Store.NewBytes, 100*ratio, m1.Store.NewBytes, m2.Store.ReusedRawBytes)
	if ratio > 0.01 {
		t.Errorf("the second unchanged encrypted backup stored %.3f%% new bytes, want ≤ 1%%", 100*ratio)
	}

	// A new backup host: no key file, but an identity of the recipients —
	// the key file is recovered from the store's sealed copy and written.
	recovered := filepath.Join(t.TempDir(), "recovered-key.json")
	sealCLIBackup(t, nil, s, target, "--format", "store", "--age-recipients-file", k.recipientsFile, "--age-naming-key", recovered, "--age-identity", k.idFile)
	if a, b := sealReadFile(t, keyFile), sealReadFile(t, recovered); !bytes.Equal(a, b) {
		t.Errorf("the recovered key file differs from the store's")
	}

	// Refused before writing: a plaintext run, another store's key file.
	other := MustTmpfs(t, 32<<20)
	otherKey := filepath.Join(t.TempDir(), "other-key.json")
	code, out, errb := s3CLI(t, nil, "backup", "--project", s.project, "--target", other, "--fstype", "tmpfs", "--no-images", "--no-volumes", "--sqlite", s.db,
		"--format", "store", "--age-recipient", k.recipient, "--age-naming-key", otherKey)
	if code != 0 {
		t.Fatalf("a second encrypted store: exit %d\n%s%s", code, out, errb)
	}
	files := len(filesAtRest(t, target))
	packs, _ := TargetDirs(t, target)
	for _, c := range []struct {
		extra []string
		says  string
	}{
		{[]string{"--format", "store"}, "asks for encryption"},
		{[]string{"--format", "store", "--age-recipient", k.recipient, "--age-naming-key", otherKey}, "naming key"},
		{[]string{"--format", "store", "--age-recipient", k.recipient}, "--age-naming-key"},
	} {
		args := append([]string{"backup", "--project", s.project, "--target", target, "--fstype", "tmpfs", "--sqlite", s.db}, c.extra...)
		code, out, errb := s3CLI(t, nil, args...)
		if code != 3 || !strings.Contains(errb, c.says) || !strings.Contains(errb, "nothing was written") {
			t.Fatalf("dockpack %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errb)
		}
		t.Logf("%v: %s", c.extra, strings.TrimSpace(errb))
		if now, partials := TargetDirs(t, target); len(now) != len(packs) || len(partials) != 0 || len(filesAtRest(t, target)) != files {
			t.Fatalf("%v: the refused backup wrote to the target", c.extra)
		}
	}

	// plan says the same before a backup would; with the store's key file it plans.
	planArgs := []string{"plan", "--project", s.project, "--target", target, "--fstype", "tmpfs", "--sqlite", s.db}
	for _, c := range []struct {
		extra []string
		code  int
		says  string
	}{
		{[]string{"--format", "store"}, 3, "asks for encryption"},
		{nil, 3, "holds an encrypted pack store"},
		{[]string{"--format", "store", "--age-recipient", k.recipient, "--age-naming-key", otherKey}, 3, "naming key"},
		{sealed, 0, ""},
	} {
		code, out, errb := s3CLI(t, nil, append(planArgs, c.extra...)...)
		if code != c.code || !strings.Contains(errb, c.says) {
			t.Fatalf("plan %v: exit %d, want %d\n%s%s", c.extra, code, c.code, out, errb)
		}
	}

	// A plaintext classic run to the target is refused too: its store asks for encryption.
	code, out, errb = s3CLI(t, nil, "backup", "--project", s.project, "--target", target, "--fstype", "tmpfs", "--sqlite", s.db)
	if code != 3 || !strings.Contains(errb, "holds an encrypted pack store") {
		t.Fatalf("a plaintext classic backup to the encrypted store's target: exit %d\n%s%s", code, out, errb)
	}
	if now, partials := TargetDirs(t, target); len(now) != len(packs) || len(partials) != 0 {
		t.Fatalf("the refused classic backup wrote %v %v", now, partials)
	}

	// prune needs no identity: the newest pack checked structurally, the store collected.
	if code, out, errb := s3CLI(t, nil, "prune", "--target", target, "--project", s.project, "--keep", "2"); code != 0 {
		t.Fatalf("prune of the encrypted store: exit %d\n%s%s", code, out, errb)
	}
	if _, err := os.Stat(p1); !os.IsNotExist(err) {
		t.Fatalf("prune --keep 2 left %s (%v)", p1, err)
	}

	// verify: structural without identity; full refused without one or with a wrong one.
	if code, out, errb := s3CLI(t, nil, "verify", "--structural", p2); code != 0 || !strings.Contains(out, "GOOD") {
		t.Fatalf("structural verify without identity: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := s3CLI(t, nil, "verify", p2); code != 3 || !strings.Contains(errb, "--age-identity") || !strings.Contains(errb, k.recipient) {
		t.Fatalf("full verify without identity: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := s3CLI(t, nil, "verify", "--age-identity", k.otherIDFile, p2); code != 3 || !strings.Contains(errb, "no age identity given matches") {
		t.Fatalf("full verify with a wrong identity: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := s3CLI(t, nil, "verify", "--age-identity", k.idFile, p2); code != 0 || !strings.Contains(out, "GOOD") {
		t.Fatalf("full verify with the identity: exit %d\n%s%s", code, out, errb)
	}

	// export: with the identity, a plaintext classic pack that verifies without one.
	expTarget := MustTmpfs(t, 64<<20)
	if code, o, errb := s3CLI(t, nil, "export", p2, "--to", expTarget, "--fstype", "tmpfs"); code != 3 || !strings.Contains(errb, "--age-identity") {
		t.Fatalf("export without identity: exit %d\n%s%s", code, o, errb)
	}
	if code, o, errb := s3CLI(t, nil, "export", p2, "--to", expTarget, "--fstype", "tmpfs", "--age-identity", k.idFile); code != 0 {
		t.Fatalf("export with the identity: exit %d\n%s%s", code, o, errb)
	}
	if code, o, errb := s3CLI(t, nil, "verify", filepath.Join(expTarget, filepath.Base(p2))); code != 0 || !strings.Contains(o, "GOOD") {
		t.Fatalf("full verify of the export without identity: exit %d\n%s%s", code, o, errb)
	}

	// The stack goes; restore without the identity is refused and changes
	// nothing; with it images, volume and database come back as they were.
	sealRestoreRoundTrip(t, nil, s, p2, k, sealWant{volume: before, image: wantImage, dump: dumpBefore})
}

// TestSealStoreDaemon: a daemon with pack_format store and an age
// recipients file writes an encrypted store — its naming key file 0600 in
// the state dir (naming-keys/), nothing at rest holds the SQLite header or
// the volume's config file, a second backup dedups; a drill without the
// identity is blocked naming age_identity_file, with it (restarted) the
// drill restores the pack's database, a background verification passes and
// the real restore replaces the live database with the pack's.
func TestSealStoreDaemon(t *testing.T) {
	s := dmNewStack(t, 64<<10)
	target := MustTmpfs(t, 64<<20)
	state := t.TempDir()
	keys := mustSealKeys(t)
	o := dmOpts{stateDir: state, target: target, stack: s, noSched: true,
		args: []string{"--pack-format", "store", "--age-recipients-file", keys.recipientsFile, "--require-encryption"}}
	d := dmStart(t, o)
	j := d.waitEnded(d.start("db", "volumes").ID, 60*time.Second)
	dmAssertPack(t, j)
	dir := *j.OutputDir
	m, _, err := pack.ReadManifest(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !m.IsStore() || !m.Sealed() || m.Encryption.Recipients[0] != keys.recipient {
		t.Fatalf("manifest: format %d, encryption %+v", m.FormatVersion, m.Encryption)
	}
	kf := filepath.Join(state, "naming-keys", "naming-key-"+m.Store.ID+".json")
	if fi, err := os.Stat(kf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the daemon's naming key file %s: %v %v", kf, fi, err)
	}
	frags := [][]byte{[]byte("SQLite format 3"), []byte("[app]\nname=" + s.project + "\n")}
	atRest := filesAtRest(t, target)
	for name, b := range atRest {
		for _, f := range frags {
			if bytes.Contains(b, f) {
				t.Errorf("%s holds plaintext %q", name, f)
			}
		}
	}
	j2 := d.waitEnded(d.start("db", "volumes").ID, 60*time.Second)
	dmAssertPack(t, j2)
	m2, _, err := pack.ReadManifest(t.Context(), *j2.OutputDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("daemon: %d files at rest, none holds plaintext; second backup stored %d new bytes (first %d)", len(atRest), m2.Store.NewBytes, m.Store.NewBytes)
	if m2.Store.NewBytes > m.Store.NewBytes/100 {
		t.Errorf("the second backup stored %d new bytes of the first's %d", m2.Store.NewBytes, m.Store.NewBytes)
	}

	drillBody := fmt.Sprintf(`{"job_id": %d, "backup_path": %q, "backup_hash": %q, "restore_target": "staging"}`, j.ID, dir, *j.PackageHash)
	code, b := d.do("POST", "/v1/drills", drillBody)
	if dr := dmJSON(t, b); code != 200 || dr["acceptance_status"] != "blocked" || !strings.Contains(string(b), "age_identity_file") {
		t.Errorf("drill without identity: %d %s, want blocked naming age_identity_file", code, b)
	}
	d.kill(syscall.SIGTERM)
	d.waitExit(30 * time.Second)
	o.args = append(o.args, "--age-identity", keys.idFile)
	d = dmStart(t, o)
	code, b = d.do("POST", "/v1/drills", drillBody)
	dr := dmJSON(t, b)
	if code != 200 || dr["acceptance_status"] != "passed" || dr["compare_match"] != true || dr["restored_auth_db_path"] == nil {
		t.Fatalf("drill with identity: %d %s", code, b)
	}
	if n := sealRows(t, dr["restored_auth_db_path"].(string)); n != 3 {
		t.Errorf("the drill's restored database has %d rows, want 3", n)
	}
	if v := sealVerify(t, d, filepath.Base(dir)); v["ok"] != true {
		t.Errorf("verification with identity: %v", v)
	}
	// The admin page's real restore replaces the live database with the pack's.
	sealAddRow(t, s.db, "after the pack")
	restoreBody := fmt.Sprintf(`{"job_id": %d, "backup_path": %q, "backup_hash": %q, "change_reason": "sealed store restore", "confirmation_text": "RESTORE"}`, j.ID, dir, *j.PackageHash)
	code, b = d.do("POST", "/v1/restores", restoreBody)
	if rr := dmJSON(t, b); code != 200 || rr["result"] != "success" || rr["compare_match"] != true {
		t.Fatalf("real restore with identity: %d %s", code, b)
	}
	if n := sealRows(t, s.db); n != 3 {
		t.Errorf("the live database has %d rows after the restore, want the pack's 3", n)
	}
	dmAssertClean(t, target, s)
}

// TestSealStoreS3: an encrypted pack store in object storage (versitygw)
// through the CLI — no object of the bucket holds a fragment of the
// volume or the SQLite header, the sealed naming key is in the store and
// config.json records no polynomial; a second unchanged backup stores
// ≤ 1 % new bytes; verify is structural without an identity and refused
// in full without one; the store in the bucket refuses a wrong identity
// and with the right one its database dumps as the stack's.
func TestSealStoreS3(t *testing.T) {
	srv := MustS3(t)
	s := rsSmallStack(t)
	k := mustSealKeys(t)
	bucket := srv.Bucket(t, "sealstore")
	target := "s3://" + bucket + "/site"
	env := S3Env(srv)
	keyFile := filepath.Join(t.TempDir(), "naming-key.json")
	dumpBefore := rsDump(t, s.db)
	volBefore, _ := rsDigest(t, s.cli, s.volume, s.image)
	imageBefore, err := MustEngine(t).ImageConfigDigest(MustCtx(t), s.image)
	if err != nil {
		t.Fatal(err)
	}
	sealed := []string{"--format", "store", "--age-recipient", k.recipient, "--age-naming-key", keyFile}
	p1 := sealCLIBackup(t, env, s, target, sealed...)
	p2 := sealCLIBackup(t, env, s, target, sealed...)

	b := srv.Backend(t, bucket, "")
	ctx := MustCtx(t)
	atRest := bucketObjects(t, b, "site/")
	if _, ok := atRest["site/"+seal.NamingKeyObject]; !ok {
		t.Errorf("no sealed naming key in the bucket")
	}
	if cfg := atRest["site/"+store.ConfigKey]; !bytes.Contains(cfg, []byte("key_fingerprint")) || bytes.Contains(cfg, []byte(`"polynomial": "0x`)) {
		t.Errorf("config.json:\n%s", cfg)
	}
	for name, data := range atRest {
		for _, f := range sealFragments(s) {
			if bytes.Contains(data, f) {
				t.Errorf("%s holds %q…", name, f[:min(len(f), 16)])
			}
		}
	}
	var m1, m2 pack.Manifest
	for p, m := range map[string]*pack.Manifest{p1: &m1, p2: &m2} {
		key := strings.TrimPrefix(p, "s3://"+bucket+"/") + "/" + pack.ManifestFile
		mm, err := pack.ParseManifest(atRest[key])
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		*m = *mm
	}
	ratio := float64(m2.Store.NewBytes) / float64(m1.Store.NewBytes)
	t.Logf("s3: %d objects, none holds plaintext; unchanged second backup stored %d new bytes = %.4f%% of %d", len(atRest), m2.Store.NewBytes, 100*ratio, m1.Store.NewBytes)
	if m1.Encryption == nil || ratio > 0.01 {
		t.Errorf("encryption %+v; second backup %.3f%% new", m1.Encryption, 100*ratio)
	}
	if code, out, errb := s3CLI(t, env, "verify", "--structural", "--staging-dir", t.TempDir(), p2); code != 0 {
		t.Fatalf("structural verify from s3 without identity: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := s3CLI(t, env, "verify", "--staging-dir", t.TempDir(), p2); code != 3 || !strings.Contains(errb, "--age-identity") {
		t.Fatalf("full verify from s3 without identity: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := s3CLI(t, env, "verify", "--staging-dir", t.TempDir(), "--age-identity", k.idFile, p2); code != 0 || !strings.Contains(out, "GOOD") {
		t.Fatalf("full verify from s3 with the identity: exit %d\n%s%s", code, out, errb)
	}
	// With the identity, the store in the bucket opens: the database read
	// from its chunks dumps as the stack's.
	st, err := store.Open(ctx, srv.Backend(t, bucket, "site"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	wrong, _ := seal.Load(ctx, seal.Config{IdentityFiles: []string{k.otherIDFile}})
	if err := st.Unseal(ctx, wrong, m2.Encryption.Recipients); !errors.Is(err, seal.ErrWrongIdentity) || !strings.Contains(err.Error(), k.recipient) {
		t.Fatalf("a wrong identity: %v", err)
	}
	keys, _ := seal.Load(ctx, seal.Config{IdentityFiles: []string{k.idFile}})
	if err := st.Unseal(ctx, keys, m2.Encryption.Recipients); err != nil {
		t.Fatal(err)
	}
	fe, _ := m2.File(m2.SQLite.File)
	var cl pack.ChunkList
	if err := json.Unmarshal(atRest[strings.TrimPrefix(p2, "s3://"+bucket+"/")+"/"+fe.Chunks.List], &cl); err != nil {
		t.Fatal(err)
	}
	db, err := io.ReadAll(st.OpenFile(ctx, cl.Chunks))
	if err != nil {
		t.Fatal(err)
	}
	hashes := []string{fmt.Sprintf("%x", sha256.Sum256(db))}
	var off int64
	for _, c := range cl.Chunks {
		hashes = append(hashes, fmt.Sprintf("%x", sha256.Sum256(db[off:off+c.Size])))
		off += c.Size
	}
	for name, data := range atRest {
		for _, h := range hashes {
			if bytes.Contains(data, []byte(h)) {
				t.Errorf("%s holds the database's plaintext sha256 %s", name, h)
			}
		}
	}
	dest := filepath.Join(t.TempDir(), "auth.db")
	if err := os.WriteFile(dest, db, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := rsDump(t, dest); got != dumpBefore {
		t.Errorf("the database read from the bucket's encrypted store dumps differently (%d vs %d bytes)", len(got), len(dumpBefore))
	}

	// The stack goes; a restore from the bucket without the identity is
	// refused and changes nothing; with it the image, the volume and the
	// database come back as they were.
	sealRestoreRoundTrip(t, env, s, p2, k, sealWant{volume: volBefore, image: imageBefore, dump: dumpBefore})
}
