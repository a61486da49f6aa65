//go:build integration

package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3/s3test"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// TestS3RoundTrip: both pack formats through the CLI on versitygw — a
// backup to s3://bucket/prefix streamed into object storage (no local
// pack), packs lists it, verify checks it, the stack goes (container,
// volume, image), restore from the s3:// pack brings it back (volume
// content digest, image config digest, the SQLite dump identical), a
// second backup and prune --keep 1 delete the first (a store target: its
// store garbage-collected under the exclusive lease) and the second still
// verifies; no multipart upload and no owner record is left.
func TestS3RoundTrip(t *testing.T) {
	srv := MustS3(t)
	for _, format := range []string{"store", "classic"} {
		t.Run(format, func(t *testing.T) { s3RoundTrip(t, srv, format) })
	}
}

func s3RoundTrip(t *testing.T, srv *s3test.Server, format string) {
	s := rsSmallStack(t)
	eng := MustEngine(t)
	ctx := MustCtx(t)
	bucket := srv.Bucket(t, "rt-"+format)
	target := "s3://" + bucket + "/site-a"
	env := S3Env(srv)
	before, _ := rsDigest(t, s.cli, s.volume, s.image)
	dumpBefore := rsDump(t, s.db)
	wantImage, err := eng.ImageConfigDigest(ctx, s.image)
	if err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	first := s3CLIBackup(t, env, s, target, format)
	t.Logf("%s backup to %s in %s", format, first, time.Since(t0).Round(time.Millisecond))
	if want := target + "/"; !strings.HasPrefix(first, want) {
		t.Fatalf("pack %q is not under %s", first, want)
	}
	name := first[len(target)+1:]

	code, out, errb := s3CLI(t, env, "packs", "--target", target, "--json")
	var listed struct {
		Packs []pack.Info `json:"packs"`
	}
	if jerr := json.Unmarshal([]byte(out), &listed); code != 0 || jerr != nil || len(listed.Packs) != 1 || listed.Packs[0].Name != name ||
		listed.Packs[0].Status != pack.StatusComplete || listed.Packs[0].Project != s.project {
		t.Fatalf("dockpack packs: exit %d (%v)\n%s%s", code, jerr, out, errb)
	}
	wantFormat := pack.FormatVersion
	if format == "store" {
		wantFormat = pack.FormatStore
	}
	if listed.Packs[0].Format != wantFormat {
		t.Fatalf("format %d, want %d", listed.Packs[0].Format, wantFormat)
	}

	staging := t.TempDir()
	t0 = time.Now()
	code, out, errb = s3CLI(t, env, "verify", "--json", "--staging-dir", staging, first)
	var vr struct {
		OK    bool   `json:"ok"`
		Pack  string `json:"pack"`
		Bytes int64  `json:"bytes"`
	}
	if jerr := json.Unmarshal([]byte(out), &vr); code != 0 || jerr != nil || !vr.OK || vr.Pack != first {
		t.Fatalf("dockpack verify %s: exit %d (%v)\n%s%s", first, code, jerr, out, errb)
	}
	t.Logf("verify from s3: %d bytes in %s", vr.Bytes, time.Since(t0).Round(time.Millisecond))
	s3EmptyDir(t, staging)

	// The stack goes: its container, volume and image.
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
	t0 = time.Now()
	if code, out, errb := s3CLI(t, env, "restore", "--staging-dir", staging, "--sqlite-dest", dest, first); code != 0 {
		t.Fatalf("dockpack restore %s: exit %d\n%s%s", first, code, out, errb)
	}
	t.Logf("restore from s3 in %s", time.Since(t0).Round(time.Millisecond))
	s3EmptyDir(t, staging)
	if got, err := eng.ImageConfigDigest(ctx, s.image); err != nil || got != wantImage {
		t.Errorf("%s: config digest %s (%v), want %s", s.image, got, err, wantImage)
	}
	if got, _ := rsDigest(t, s.cli, s.volume, s.image); got != before {
		t.Errorf("volume %s differs after the restore from s3", s.volume)
	}
	if got := rsDump(t, dest); got != dumpBefore {
		t.Errorf("the restored database's dump differs (%d vs %d bytes)", len(got), len(dumpBefore))
	}

	// The app runs again on the restored volume and image; a second pack;
	// prune keeps it and deletes the first.
	s.app = dockertest.MustContainer(t, s.cli, dockertest.ContainerSpec{Name: s.project + "_app_1", Image: s.image,
		Labels: dockertest.ComposeLabels(s.project, "app", 1), Start: true,
		Mounts: []dockertest.Mount{{Type: "volume", Source: s.volume, Target: "/data"}}})
	second := s3CLIBackup(t, env, s, target, format)
	code, out, errb = s3CLI(t, env, "prune", "--target", target, "--project", s.project, "--keep", "1", "--json")
	var pr struct {
		Deleted []pack.Info     `json:"deleted"`
		GC      json.RawMessage `json:"gc"`
	}
	if jerr := json.Unmarshal([]byte(out), &pr); code != 0 || jerr != nil || len(pr.Deleted) != 1 || pr.Deleted[0].Name != name {
		t.Fatalf("dockpack prune: exit %d (%v)\n%s%s", code, jerr, out, errb)
	}
	if format == "store" && (len(pr.GC) == 0 || string(pr.GC) == "null") {
		t.Fatalf("prune of a store target ran no garbage collection:\n%s", out)
	}
	t.Logf("prune: %s", strings.Join(strings.Fields(string(pr.GC)), " "))
	b := srv.Backend(t, bucket, "site-a")
	if _, err := b.Stat(ctx, name+"/"+pack.ManifestFile); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("the pruned pack's manifest: %v", err)
	}
	if code, out, errb := s3CLI(t, env, "verify", "--staging-dir", staging, second); code != 0 {
		t.Fatalf("dockpack verify %s after the prune: exit %d\n%s%s", second, code, out, errb)
	}
	if n, err := b.Uploads(ctx); err != nil || n != 0 {
		t.Fatalf("multipart uploads left: %d %v", n, err)
	}
	var recs []string
	_ = b.List(ctx, ".dockpack/partials/", func(in storage.Info) error { recs = append(recs, in.Key); return nil })
	if len(recs) != 0 {
		t.Fatalf("owner records left: %v", recs)
	}
}

// s3CLI runs the dockpack binary with env added and returns its exit code, stdout and stderr.
func s3CLI(t testing.TB, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, dmBinary(t), append(args, "--log-level", "warn")...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("dockpack %s: %v", strings.Join(args, " "), err)
	}
	return code, out.String(), errb.String()
}

// s3CLIBackup backs up the small stack to target through the CLI and returns the pack's location.
func s3CLIBackup(t testing.TB, env []string, s *rsStack, target, format string) string {
	t.Helper()
	code, out, errb := s3CLI(t, env, "backup", "--project", s.project, "--target", target, "--sqlite", s.db, "--format", format,
		"--staging-dir", t.TempDir(), "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var done struct {
		Event string `json:"event"`
		Pack  string `json:"pack"`
	}
	if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &done); code != 0 || jerr != nil || done.Event != "done" {
		t.Fatalf("dockpack backup --target %s --format %s: exit %d (%v)\n%s%s", target, format, code, jerr, out, errb)
	}
	return done.Pack
}

// s3EmptyDir fails when dir holds anything (a fetched pack left behind).
func s3EmptyDir(t testing.TB, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 0 {
		t.Fatalf("%s after the command: %v %v", dir, ents, err)
	}
}
