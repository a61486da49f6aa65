//go:build integration

package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// Encryption at rest of classic packs (issue 16, docs/encryption.md).

// sealKeys is an age identity in a key file, its recipient in a
// recipients file, and another identity that is not a recipient.
type sealKeys struct {
	recipient, idFile, recipientsFile, otherIDFile string
}

func mustSealKeys(t testing.TB) sealKeys {
	t.Helper()
	dir := t.TempDir()
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	k := sealKeys{recipient: id.Recipient().String(), idFile: filepath.Join(dir, "key.txt"),
		recipientsFile: filepath.Join(dir, "recipients.txt"), otherIDFile: filepath.Join(dir, "other.txt")}
	for p, s := range map[string]string{k.idFile: id.String(), k.otherIDFile: other.String(), k.recipientsFile: "# ops\n" + k.recipient} {
		if err := os.WriteFile(p, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// sealFragments are what must never be found at rest in a sealed pack: the
// SQLite header, the small stack's config file, 64 bytes from the middle
// of its random blob (rsSmallStack's generator).
func sealFragments(s *rsStack) [][]byte {
	blob := make([]byte, 256<<10)
	rand.NewChaCha8([32]byte{9}).Read(blob)
	return [][]byte{[]byte("SQLite format 3"), []byte("[app]\nname=" + s.project + "\n"), blob[100000:100064]}
}

// sealCLIBackup backs up the small stack through the CLI and returns the
// pack's location; extra are the age flags.
func sealCLIBackup(t testing.TB, env []string, s *rsStack, target string, extra ...string) string {
	t.Helper()
	args := append([]string{"backup", "--project", s.project, "--target", target, "--sqlite", s.db, "--staging-dir", t.TempDir(), "--json"}, extra...)
	if !storage.IsS3URL(target) {
		args = append(args, "--fstype", "tmpfs")
	}
	code, out, errb := s3CLI(t, env, args...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var done struct {
		Event string `json:"event"`
		Pack  string `json:"pack"`
	}
	if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &done); code != 0 || jerr != nil || done.Event != "done" {
		t.Fatalf("dockpack %s: exit %d (%v)\n%s%s", strings.Join(args, " "), code, jerr, out, errb)
	}
	return done.Pack
}

// sealCheckAtRest fails when a file at rest (name → content) holds a
// fragment, or a content file is not sealed.
func sealCheckAtRest(t testing.TB, files map[string][]byte, frags [][]byte, recipient string) {
	t.Helper()
	sealed := 0
	for name, b := range files {
		for _, f := range frags {
			if bytes.Contains(b, f) {
				t.Errorf("%s holds plaintext %q…", name, f[:min(len(f), 16)])
			}
		}
		switch base := filepath.Base(name); {
		case base == pack.ManifestFile:
			var m pack.Manifest
			if err := json.Unmarshal(b, &m); err != nil || m.Encryption == nil || m.Encryption.Scheme != "age" ||
				len(m.Encryption.Recipients) != 1 || m.Encryption.Recipients[0] != recipient {
				t.Errorf("manifest encryption %+v (%v), want age to %s", m.Encryption, err, recipient)
			}
		case base == pack.SumsFile:
		case strings.HasSuffix(base, ".age"):
			if !bytes.HasPrefix(b, []byte("age-encryption.org/v1\n")) {
				t.Errorf("%s is not an age file", name)
			}
			sealed++
		default:
			t.Errorf("%s is at rest and not sealed", name)
		}
	}
	if sealed < 3 { // auth.db, the volume, images.tar
		t.Errorf("%d sealed files at rest, want at least 3", sealed)
	}
}

// TestSealClassicDir: an encrypted classic backup to a directory (tmpfs)
// through the CLI — sha256sum -c on the ciphertext, no plaintext at rest,
// structural verify without identity, full verify refused without (and
// with a wrong) identity and passing with it, restore refused without the
// identity with nothing changed and a round trip with it, export to a
// plaintext pack that verifies, passes sha256sum -c and docker load -i;
// --format store with a recipient and --require-encryption without one
// refused before anything is written.
func TestSealClassicDir(t *testing.T) {
	s := rsSmallStack(t)
	eng := MustEngine(t)
	ctx := MustCtx(t)
	k := mustSealKeys(t)
	target := MustTmpfs(t, 64<<20)
	before, _ := rsDigest(t, s.cli, s.volume, s.image)
	dumpBefore := rsDump(t, s.db)
	wantImage, err := eng.ImageConfigDigest(ctx, s.image)
	if err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	p := sealCLIBackup(t, nil, s, target, "--age-recipients-file", k.recipientsFile)
	t.Logf("sealed classic backup in %s", time.Since(t0).Round(time.Millisecond))

	// sha256sum -c SHA256SUMS passes on the ciphertext.
	cmd := exec.Command("sha256sum", "--strict", "-c", pack.SumsFile)
	cmd.Dir = p
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), ".age: OK") {
		t.Fatalf("sha256sum -c in the sealed pack: %v\n%s", err, out)
	}
	atRest := filesAtRest(t, p)
	sealCheckAtRest(t, atRest, sealFragments(s), k.recipient)

	// packs and show say it is sealed and to whom.
	code, out, errb := s3CLI(t, nil, "packs", "--target", target, "--json")
	var listed struct {
		Packs []pack.Info `json:"packs"`
	}
	if jerr := json.Unmarshal([]byte(out), &listed); code != 0 || jerr != nil || len(listed.Packs) != 1 || listed.Packs[0].Encryption == nil ||
		listed.Packs[0].Encryption.Recipients[0] != k.recipient {
		t.Fatalf("dockpack packs --json: exit %d (%v)\n%s%s", code, jerr, out, errb)
	}
	if code, out, errb := s3CLI(t, nil, "show", p); code != 0 || !strings.Contains(out, "sealed to "+k.recipient) {
		t.Fatalf("dockpack show: exit %d\n%s%s", code, out, errb)
	}

	// verify: structural without identity; full refused without one or with a wrong one.
	if code, out, errb := s3CLI(t, nil, "verify", "--structural", p); code != 0 || !strings.Contains(out, "GOOD") {
		t.Fatalf("structural verify without identity: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := s3CLI(t, nil, "verify", p); code != 3 || !strings.Contains(errb, "--age-identity") || !strings.Contains(errb, k.recipient) {
		t.Fatalf("full verify without identity: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := s3CLI(t, nil, "verify", "--age-identity", k.otherIDFile, p); code != 3 || !strings.Contains(errb, "no age identity given matches") ||
		!strings.Contains(errb, k.recipient) {
		t.Fatalf("full verify with a wrong identity: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := s3CLI(t, nil, "verify", "--age-identity", k.idFile, p); code != 0 || !strings.Contains(out, "GOOD") {
		t.Fatalf("full verify with the identity: exit %d\n%s%s", code, out, errb)
	}

	// The stack goes; restore without the identity is refused and changes
	// nothing; with it images, volume and database come back as they were.
	sealRestoreRoundTrip(t, nil, s, p, k, sealWant{volume: before, image: wantImage, dump: dumpBefore}, "--no-verify")

	// export: refused without identity; with it a plaintext classic pack.
	expTarget := MustTmpfs(t, 64<<20)
	if code, o, errb := s3CLI(t, nil, "export", p, "--to", expTarget, "--fstype", "tmpfs"); code != 3 || !strings.Contains(errb, "--age-identity") {
		t.Fatalf("export without identity: exit %d\n%s%s", code, o, errb)
	}
	if packs, partials := TargetDirs(t, expTarget); len(packs)+len(partials) != 0 {
		t.Fatalf("a refused export left %v %v", packs, partials)
	}
	if code, o, errb := s3CLI(t, nil, "export", p, "--to", expTarget, "--fstype", "tmpfs", "--age-identity", k.idFile); code != 0 {
		t.Fatalf("export with the identity: exit %d\n%s%s", code, o, errb)
	}
	exp := filepath.Join(expTarget, filepath.Base(p))
	cmd = exec.Command("sha256sum", "--strict", "-c", pack.SumsFile)
	cmd.Dir = exp
	if o, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(o), ".age") {
		t.Fatalf("sha256sum -c in the export: %v\n%s", err, o)
	}
	// The sealed pack's manifest and SHA256SUMS hold no plaintext hash of content.
	em, _, err := pack.ReadManifest(ctx, exp)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range em.Files {
		for _, name := range []string{pack.ManifestFile, pack.SumsFile} {
			if bytes.Contains(atRest[filepath.Join(p, name)], []byte(f.SHA256)) {
				t.Errorf("the sealed pack's %s holds the plaintext sha256 of %s", name, f.Path)
			}
		}
	}
	if code, o, errb := s3CLI(t, nil, "verify", exp); code != 0 || !strings.Contains(o, "GOOD") {
		t.Fatalf("full verify of the export without identity: exit %d\n%s%s", code, o, errb)
	}
	if err := eng.RemoveImage(ctx, s.image, true); err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	if o, err := exec.CommandContext(lctx, "docker", "load", "-i", filepath.Join(exp, pack.ImagesFile)).CombinedOutput(); err != nil {
		t.Fatalf("docker load -i of the export's images.tar: %v\n%s", err, o)
	}
	if got, err := eng.ImageConfigDigest(ctx, s.image); err != nil || got != wantImage {
		t.Errorf("after docker load: %s config digest %s (%v), want %s", s.image, got, err, wantImage)
	}

	// No silent plaintext: --require-encryption without a recipient, and
	// --format store with one but without the store's naming key file
	// (TestSealStoreDir), are refused before anything is written.
	packsBefore, _ := TargetDirs(t, target)
	for _, extra := range [][]string{{"--format", "store", "--age-recipient", k.recipient}, {"--require-encryption"}} {
		args := append([]string{"backup", "--project", s.project, "--target", target, "--fstype", "tmpfs", "--sqlite", s.db}, extra...)
		code, o, errb := s3CLI(t, nil, args...)
		if code != 3 || !(strings.Contains(errb, "--age-naming-key") || strings.Contains(errb, "refusing to write plaintext")) {
			t.Fatalf("dockpack %s: exit %d\n%s%s", strings.Join(args, " "), code, o, errb)
		}
		t.Logf("%v: %s", extra, strings.TrimSpace(errb))
		packs, partials := TargetDirs(t, target)
		if len(packs) != len(packsBefore) || len(partials) != 0 {
			t.Fatalf("%v: the refused backup wrote %v %v", extra, packs, partials)
		}
		if _, err := os.Stat(filepath.Join(target, ".dockpack")); !os.IsNotExist(err) {
			t.Fatalf("%v: the refused backup created the store (%v)", extra, err)
		}
	}
	// plan says the same, and takes the recipients of a classic backup.
	planArgs := []string{"plan", "--project", s.project, "--target", target, "--fstype", "tmpfs", "--sqlite", s.db, "--age-recipient", k.recipient}
	if code, o, errb := s3CLI(t, nil, append(planArgs, "--format", "store")...); code != 3 || !strings.Contains(errb, "--age-naming-key") {
		t.Fatalf("plan --format store --age-recipient without --age-naming-key: exit %d\n%s%s", code, o, errb)
	}
	if code, o, errb := s3CLI(t, nil, planArgs...); code != 0 {
		t.Fatalf("plan --age-recipient: exit %d\n%s%s", code, o, errb)
	}
}

// TestSealClassicS3: an encrypted classic backup to object storage (the
// same sink): nothing at rest in the bucket holds plaintext; structural
// verify without identity and full verify with it pass; copy to a
// directory carries the sealed files as they are.
func TestSealClassicS3(t *testing.T) {
	srv := MustS3(t)
	s := rsSmallStack(t)
	k := mustSealKeys(t)
	bucket := srv.Bucket(t, "seal")
	target := "s3://" + bucket + "/site"
	env := S3Env(srv)
	p := sealCLIBackup(t, env, s, target, "--age-recipient", k.recipient)

	b := srv.Backend(t, bucket, "")
	atRest := bucketObjects(t, b, "site/")
	sealCheckAtRest(t, atRest, sealFragments(s), k.recipient)
	if code, out, errb := s3CLI(t, env, "verify", "--structural", "--staging-dir", t.TempDir(), p); code != 0 {
		t.Fatalf("structural verify from s3 without identity: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := s3CLI(t, env, "verify", "--staging-dir", t.TempDir(), p); code != 3 || !strings.Contains(errb, "--age-identity") {
		t.Fatalf("full verify from s3 without identity: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := s3CLI(t, env, "verify", "--staging-dir", t.TempDir(), "--age-identity", k.idFile, p); code != 0 || !strings.Contains(out, "GOOD") {
		t.Fatalf("full verify from s3 with the identity: exit %d\n%s%s", code, out, errb)
	}
	// copy carries the sealed files as they are (no identity needed), each
	// verified on arrival against the ciphertext's checksum.
	dir := t.TempDir()
	if code, out, errb := s3CLI(t, env, "copy", p, "--to", dir); code != 0 {
		t.Fatalf("dockpack copy of a sealed pack: exit %d\n%s%s", code, out, errb)
	}
	local := filepath.Join(dir, filepath.Base(p))
	if code, out, errb := s3CLI(t, env, "verify", "--structural", local); code != 0 {
		t.Fatalf("structural verify of the copy: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := s3CLI(t, env, "verify", "--age-identity", k.idFile, local); code != 0 || !strings.Contains(out, "GOOD") {
		t.Fatalf("full verify of the copy: exit %d\n%s%s", code, out, errb)
	}
	sealCheckAtRest(t, filesAtRest(t, local), sealFragments(s), k.recipient)
}

// sealWant is what a sealed pack's restore must bring back.
type sealWant struct{ volume, image, dump string }

// sealRestoreRoundTrip removes the stack's container, volume and image,
// then restores the sealed pack p through the CLI (env: its environment,
// e.g. S3Env): refused (exit 3, naming the recipient, "nothing was
// changed") without an identity, with each of refusing's arguments and with
// another identity — no volume created, no image loaded, no database
// written —; with the identity the image's config digest, the volume's
// digest and the database's dump are want's.
func sealRestoreRoundTrip(t *testing.T, env []string, s *rsStack, p string, k sealKeys, want sealWant, refusing ...string) {
	t.Helper()
	ctx := MustCtx(t)
	eng := MustEngine(t)
	if err := dockertest.ForceRemoveContainer(s.cli, s.app); err != nil {
		t.Fatal(err)
	}
	if err := eng.RemoveVolume(ctx, s.volume, true); err != nil {
		t.Fatal(err)
	}
	if err := eng.RemoveImage(ctx, s.image, true); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "restored.db")
	base := []string{"restore", "--staging-dir", t.TempDir(), "--sqlite-dest", dest, p}
	tries := [][]string{nil, {"--age-identity", k.otherIDFile}}
	for _, r := range refusing {
		tries = append(tries, []string{r})
	}
	for _, extra := range tries {
		args := append(slices.Clone(base), extra...)
		code, out, errb := s3CLI(t, env, args...)
		if code != 3 || !strings.Contains(errb, "nothing was changed") || !strings.Contains(errb, k.recipient) {
			t.Fatalf("dockpack %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errb)
		}
		if _, err := eng.InspectVolume(ctx, s.volume); err == nil {
			t.Fatalf("%v: a refused restore created the volume", extra)
		}
		if _, err := eng.ImageConfigDigest(ctx, s.image); err == nil {
			t.Fatalf("%v: a refused restore loaded the image", extra)
		}
		if _, err := os.Stat(dest); !os.IsNotExist(err) {
			t.Fatalf("%v: a refused restore wrote the database", extra)
		}
	}
	t0 := time.Now()
	if code, out, errb := s3CLI(t, env, append(base, "--age-identity", k.idFile)...); code != 0 {
		t.Fatalf("restore with the identity: exit %d\n%s%s", code, out, errb)
	}
	t.Logf("restore of the sealed pack %s in %s", p, time.Since(t0).Round(time.Millisecond))
	if got, err := eng.ImageConfigDigest(ctx, s.image); err != nil || got != want.image {
		t.Errorf("%s: config digest %s (%v), want %s", s.image, got, err, want.image)
	}
	if got, _ := rsDigest(t, s.cli, s.volume, s.image); got != want.volume {
		t.Errorf("volume %s differs after the restore", s.volume)
	}
	if got := rsDump(t, dest); got != want.dump {
		t.Errorf("the restored database's dump differs (%d vs %d bytes)", len(got), len(want.dump))
	}
}

// bucketObjects reads every object of b under prefix (each ≤ 64 MiB).
func bucketObjects(t *testing.T, b storage.Backend, prefix string) map[string][]byte {
	t.Helper()
	ctx := MustCtx(t)
	objs := map[string][]byte{}
	if err := b.List(ctx, prefix, func(in storage.Info) error {
		data, err := storage.ReadObject(ctx, b, in.Key, 64<<20)
		objs[in.Key] = data
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return objs
}

// filesAtRest is every regular file under dir (path → content).
func filesAtRest(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			out[p], err = os.ReadFile(p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
