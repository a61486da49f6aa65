//go:build integration

package integration_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// rsProject is a unique compose project name (lowercase letters and digits).
func rsProject() string {
	return strings.ReplaceAll(dockertest.Unique("rs"), "-", "")
}

// rsVolume creates a compose-labelled volume of project (removed in cleanup).
func rsVolume(t testing.TB, cli *dockertest.Client, project, key string) string {
	t.Helper()
	name := project + "_" + key
	dockertest.MustVolume(t, cli, name, dockertest.ComposeVolumeLabels(project, key))
	return name
}

// rsForget removes a volume at the end of the test too (restores recreate volumes).
func rsForget(t testing.TB, cli *dockertest.Client, volumes ...string) {
	t.Helper()
	for _, v := range volumes {
		t.Cleanup(func() { dockertest.RemoveVolume(t, cli, v) })
	}
}

// rsRichTar streams a volume's content as a tar: modes (setuid, setgid,
// sticky), numeric owners, symlinks (relative, absolute, dangling), a hard
// link, empty files and directories, and a file of bigBytes incompressible
// bytes from a seeded generator.
func rsRichTar(w io.Writer, bigBytes int64) error {
	tw := tar.NewWriter(w)
	mt := time.Unix(1700000000, 0)
	hdr := func(name string, typ byte, mode int64, uid, gid int, link string, size int64) error {
		return tw.WriteHeader(&tar.Header{Name: name, Typeflag: typ, Mode: mode, Uid: uid, Gid: gid, Linkname: link, Size: size, ModTime: mt, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, uid, gid int, body []byte) error {
		if err := hdr(name, tar.TypeReg, mode, uid, gid, "", int64(len(body))); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	small := make([]byte, 4096)
	rng.Read(small)
	steps := []func() error{
		func() error { return hdr("./", tar.TypeDir, 0o755, 0, 0, "", 0) },
		func() error { return hdr("dir/", tar.TypeDir, 0o750, 1000, 1000, "", 0) },
		func() error { return file("dir/a.txt", 0o640, 1000, 1000, []byte("hello from the round trip\n")) },
		func() error { return hdr("dir/sub/", tar.TypeDir, 0o700, 12345, 54321, "", 0) },
		func() error { return file("dir/sub/deep.bin", 0o600, 12345, 54321, small) },
		func() error { return hdr("empty/", tar.TypeDir, 0o755, 0, 0, "", 0) },
		func() error { return hdr("sticky/", tar.TypeDir, 0o1777, 0, 0, "", 0) },
		func() error { return hdr("sticky/deeper/", tar.TypeDir, 0o755, 33, 33, "", 0) },
		func() error { return hdr("setgid-dir/", tar.TypeDir, 0o2775, 1000, 100, "", 0) },
		func() error { return file("exec.sh", 0o755, 0, 0, []byte("#!/bin/sh\necho hi\n")) },
		func() error { return file("setuid.bin", 0o4755, 0, 0, []byte("not really a program\n")) },
		func() error { return file("nobody.txt", 0o644, 65534, 65534, []byte("nobody's\n")) },
		func() error { return file("empty.txt", 0o644, 0, 0, nil) },
		func() error { return hdr("link", tar.TypeSymlink, 0o777, 0, 0, "dir/a.txt", 0) },
		func() error { return hdr("abs-link", tar.TypeSymlink, 0o777, 0, 0, "/etc/hostname", 0) },
		func() error { return hdr("dangling", tar.TypeSymlink, 0o777, 1000, 1000, "nowhere/at/all", 0) },
		func() error { return hdr("hard", tar.TypeLink, 0o640, 1000, 1000, "dir/a.txt", 0) },
		func() error {
			if err := hdr("big.bin", tar.TypeReg, 0o644, 0, 0, "", bigBytes); err != nil {
				return err
			}
			buf := make([]byte, 1<<20)
			for left := bigBytes; left > 0; {
				n := min(left, int64(len(buf)))
				rng.Read(buf[:n])
				if _, err := tw.Write(buf[:n]); err != nil {
					return err
				}
				left -= n
			}
			return nil
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return tw.Close()
}

// rsFill streams rsRichTar into a volume through ImportVolume.
func rsFill(t testing.TB, eng *dockerapi.Client, volume, image string, bigBytes int64) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(rsRichTar(pw, bigBytes)) }()
	if err := eng.ImportVolume(MustCtx(t), volume, image, pr); err != nil {
		t.Fatalf("fill volume %s: %v", volume, err)
	}
}

// rsDigest is a content digest of a volume: sha256 over sorted lines of
// path, type, permission bits (with setuid/setgid/sticky), numeric owner,
// link target and content hash (mtimes left out; a hard link is its group's
// first path, whichever of them the engine emits as the file). It reads the
// volume through a never-started container made from image.
func rsDigest(t testing.TB, cli *dockertest.Client, volume, image string) (string, []string) {
	t.Helper()
	id := dockertest.MustContainer(t, cli, dockertest.ContainerSpec{Image: image,
		Mounts: []dockertest.Mount{{Type: "volume", Source: volume, Target: "/v", NoCopy: true, ReadOnly: true}}})
	defer dockertest.ForceRemoveContainer(cli, id)
	rc, _, err := cli.CopyFromContainer(MustCtx(t), id, "/v")
	if err != nil {
		t.Fatalf("read volume %s: %v", volume, err)
	}
	defer rc.Close()
	type ent struct {
		typ       byte
		mode      int64
		uid, gid  int
		link, sum string
	}
	ents := map[string]*ent{}
	parent := map[string]string{} // hard-link groups; a group's root is its smallest path
	var find func(string) string
	find = func(p string) string {
		q, ok := parent[p]
		if !ok || q == p {
			return p
		}
		r := find(q)
		parent[p] = r
		return r
	}
	var hard [][2]string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read volume %s: %v", volume, err)
		}
		rel := rsRel(h.Name)
		e := &ent{typ: h.Typeflag, mode: h.Mode & 0o7777, uid: h.Uid, gid: h.Gid}
		switch h.Typeflag {
		case tar.TypeSymlink:
			e.link = h.Linkname
		case tar.TypeLink:
			hard = append(hard, [2]string{rel, rsRel(h.Linkname)})
		case tar.TypeReg:
			s := sha256.New()
			if _, err := io.Copy(s, tr); err != nil {
				t.Fatal(err)
			}
			e.sum = hex.EncodeToString(s.Sum(nil))
		}
		ents[rel] = e
	}
	inGroup := map[string]bool{}
	for _, hl := range hard {
		inGroup[hl[0]], inGroup[hl[1]] = true, true
		if a, b := find(hl[0]), find(hl[1]); a != b {
			if a < b {
				parent[b] = a
			} else {
				parent[a] = b
			}
		}
		if tgt := ents[hl[1]]; tgt != nil {
			e := ents[hl[0]]
			e.typ, e.mode, e.uid, e.gid, e.sum = tar.TypeReg, tgt.mode, tgt.uid, tgt.gid, tgt.sum
		}
	}
	var lines []string
	for p, e := range ents {
		l := fmt.Sprintf("%s type=%c mode=%04o owner=%d:%d link=%q sha=%s", p, e.typ, e.mode, e.uid, e.gid, e.link, e.sum)
		if inGroup[p] {
			l += " hardlinks=" + find(p)
		}
		lines = append(lines, l)
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:]), lines
}

// rsRel turns an archive name "v/dir/x" into "dir/x" ("." for the root).
func rsRel(name string) string {
	rel := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(name, "v"), "/"), "/")
	if rel == "" {
		return "."
	}
	return rel
}

// rsDB creates a WAL SQLite database with a few tables, an index, a view and blobs.
func rsDB(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "auth.db")
	conn, err := sqlite.OpenConn(p, sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := sqlitex.ExecuteScript(conn, `
		CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE, created REAL);
		CREATE TABLE tokens(id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), token BLOB, note TEXT);
		CREATE INDEX tokens_by_user ON tokens(user_id);
		CREATE VIEW active AS SELECT name FROM users WHERE email IS NOT NULL;`, nil); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 9))
	for i := range 500 {
		blob := make([]byte, 64+rng.IntN(512))
		for j := range blob {
			blob[j] = byte(rng.IntN(256))
		}
		if err := sqlitex.Execute(conn, `INSERT INTO users(name, email, created) VALUES (?, ?, ?)`,
			&sqlitex.ExecOptions{Args: []any{fmt.Sprintf("user %d ünïcode", i), fmt.Sprintf("u%d@example.org", i), float64(i) / 3}}); err != nil {
			t.Fatal(err)
		}
		if err := sqlitex.Execute(conn, `INSERT INTO tokens(user_id, token, note) VALUES (?, ?, ?)`,
			&sqlitex.ExecOptions{Args: []any{i + 1, blob, nil}}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// rsDump is a logical dump of a database: the schema and every row of
// every table, in rowid order, values with their types.
func rsDump(t testing.TB, path string) string {
	t.Helper()
	conn, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	var tables []string
	if err := sqlitex.Execute(conn, `SELECT type, name, tbl_name, COALESCE(sql, '') FROM sqlite_schema ORDER BY type, name`, &sqlitex.ExecOptions{
		ResultFunc: func(st *sqlite.Stmt) error {
			fmt.Fprintf(&b, "schema %s %s %s: %s\n", st.ColumnText(0), st.ColumnText(1), st.ColumnText(2), st.ColumnText(3))
			if st.ColumnText(0) == "table" && !strings.HasPrefix(st.ColumnText(1), "sqlite_") {
				tables = append(tables, st.ColumnText(1))
			}
			return nil
		}}); err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if err := sqlitex.Execute(conn, `SELECT * FROM "`+tb+`" ORDER BY rowid`, &sqlitex.ExecOptions{ResultFunc: func(st *sqlite.Stmt) error {
			fmt.Fprintf(&b, "%s:", tb)
			for i := range st.ColumnCount() {
				switch st.ColumnType(i) {
				case sqlite.TypeNull:
					b.WriteString(" NULL")
				case sqlite.TypeInteger:
					fmt.Fprintf(&b, " i%d", st.ColumnInt64(i))
				case sqlite.TypeFloat:
					fmt.Fprintf(&b, " f%v", st.ColumnFloat(i))
				case sqlite.TypeBlob:
					buf := make([]byte, st.ColumnLen(i))
					st.ColumnBytes(i, buf)
					fmt.Fprintf(&b, " x%x", buf)
				default:
					fmt.Fprintf(&b, " t%q", st.ColumnText(i))
				}
			}
			b.WriteByte('\n')
			return nil
		}}); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// rsBackup makes a pack of project into target (tmpfs policy).
func rsBackup(t testing.TB, eng *dockerapi.Client, project, target, db string, comps ...pack.Component) *backup.Result {
	t.Helper()
	spec := backup.Spec{Engine: eng, Project: project, Target: target, Policy: tmpfsPolicy, SQLitePath: db, StagingDir: t.TempDir(), Components: comps}
	res, err := backup.Run(MustCtx(t), spec, nil)
	if err != nil {
		t.Fatalf("backup of %s: %v", project, err)
	}
	return res
}

// rsReadFile reads one file out of a container.
func rsReadFile(t testing.TB, cli *dockertest.Client, containerID, path string) string {
	t.Helper()
	rc, _, err := cli.CopyFromContainer(MustCtx(t), containerID, path)
	if err != nil {
		t.Fatalf("read %s from %s: %v", path, containerID, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rsCompose runs docker-compose (v1) with stdin from /dev/null and returns stderr+stdout.
func rsCompose(t testing.TB, dir, project string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker-compose", append([]string{"-p", project, "-f", filepath.Join(dir, "docker-compose.yml")}, args...)...)
	cmd.Dir = dir
	cmd.Stdin = nil // /dev/null
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker-compose -p %s %s: %v\n%s", project, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// rsContainerOf finds the container of a compose v1 service (<project>_<service>_1).
func rsContainerOf(t testing.TB, cli *dockertest.Client, project, service string) string {
	t.Helper()
	ci, err := cli.ContainerInspect(MustCtx(t), project+"_"+service+"_1")
	if err != nil {
		t.Fatalf("container of %s/%s: %v", project, service, err)
	}
	return ci.ID
}

// rsFlipMid flips one byte in the middle of a file.
func rsFlipMid(t testing.TB, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	off := fi.Size() / 2
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x01
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// rsCLI runs the dockpack binary and returns its exit code, stdout and stderr.
func rsCLI(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, dmBinary(t), args...)
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

// rsNoLeftovers fails when a restore left a helper container or a marker for the volume.
func rsNoLeftovers(t testing.TB, cli *dockertest.Client, eng *dockerapi.Client, volumes ...string) {
	t.Helper()
	for _, v := range volumes {
		if n, _ := dockertest.CountLabelled(t, cli, dockerapi.LabelHelperVolume+"="+v); n != 0 {
			t.Errorf("%d helper container(s) for volume %s left behind", n, v)
		}
		if marks, err := eng.VolumeIncompleteMarks(MustCtx(t), v); err != nil || len(marks) != 0 {
			t.Errorf("volume %s still marked incomplete: %v %v", v, marks, err)
		}
	}
}

// rsComposeQuiet runs docker-compose for a cleanup: errors are returned, not fatal.
func rsComposeQuiet(ctx context.Context, dir, project string, args ...string) error {
	cmd := exec.CommandContext(ctx, "docker-compose", append([]string{"-p", project, "-f", filepath.Join(dir, "docker-compose.yml")}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker-compose %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// rsStack is a small compose-labelled stack: image <p>-app, volume <p>_data
// holding a 256 KiB file and a config, a running container using it, and a
// WAL database on the host.
type rsStack struct {
	cli     *dockertest.Client
	project string
	image   string
	volume  string
	app     string
	db      string
}

func rsSmallStack(t testing.TB) *rsStack {
	t.Helper()
	cli := dockertest.MustClient(t)
	s := &rsStack{cli: cli, project: rsProject()}
	s.image = "dockpack-test/" + s.project + "-app:1"
	dockertest.MustTestAppImage(t, cli, s.image)
	s.volume = rsVolume(t, cli, s.project, "data")
	blob := make([]byte, 256<<10)
	rand.NewChaCha8([32]byte{9}).Read(blob)
	dockertest.MustWriteVolume(t, cli, s.volume, s.image, dockertest.MustTar(t,
		dockertest.TarEntry{Name: "blob.bin", Body: blob},
		dockertest.TarEntry{Name: "conf/app.ini", Body: []byte("[app]\nname=" + s.project + "\n")}))
	s.app = dockertest.MustContainer(t, cli, dockertest.ContainerSpec{Name: s.project + "_app_1", Image: s.image,
		Labels: dockertest.ComposeLabels(s.project, "app", 1), Start: true,
		Mounts: []dockertest.Mount{{Type: "volume", Source: s.volume, Target: "/data"}}})
	s.db = rsDB(t)
	return s
}
