package consistency_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/consistency"
)

// The presets run through the container's /bin/sh. Each is run here by
// the local /bin/sh against stand-ins of the vendor tools (shell scripts
// that print how they were called), with the environment a container of
// that image would have: the expansion is tested, not just its text.

const redisShim = `#!/bin/sh
S="$SHIM_STATE"
echo "auth=$REDISCLI_AUTH" >> "$S/auth"
case "$1 $2" in
"LASTSAVE ") cat "$S/last" ;;
"BGSAVE ") echo 200 > "$S/last"; echo "Background saving started" ;;
"INFO persistence") printf 'rdb_bgsave_in_progress:0\nrdb_last_bgsave_status:ok\n' ;;
"CONFIG GET") case "$3" in
  dir) printf 'dir\n%s\n' "$S" ;;
  dbfilename) printf 'dbfilename\ndump.rdb\n' ;;
  appendonly) printf 'appendonly\n%s\n' "${SHIM_AOF:-no}" ;;
  esac ;;
"SHUTDOWN NOSAVE") echo down > "$S/shutdown" ;;
esac
`

// prShims writes the stand-ins into a directory for PATH.
func prShims(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	echo := `#!/bin/sh
printf '%s' "$(basename "$0")"; for a in "$@"; do printf ' [%s]' "$a"; done
printf ' pwd=%s pgpw=%s\n' "$MYSQL_PWD" "$PGPASSWORD"
if [ -n "$SHIM_STDIN" ]; then cat; fi
`
	for _, n := range names {
		body := echo
		if n == "redis-cli" || n == "valkey-cli" {
			body = redisShim
		}
		if err := os.WriteFile(filepath.Join(dir, n), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// prRun runs a preset's command as the container would: argv as given,
// the container's environment, stdin.
func prRun(t *testing.T, argv []string, shims string, env []string, stdin string) (string, error) {
	t.Helper()
	if argv[0] != "/bin/sh" || argv[1] != "-c" || len(argv) != 3 {
		t.Fatalf("a preset runs through /bin/sh -c: %q", argv)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=" + shims + ":/usr/bin:/bin"}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		t.Logf("stderr: %s", errb.String())
	}
	return out.String(), err
}

func prPreset(t *testing.T, name string) consistency.Preset {
	t.Helper()
	p, ok := consistency.LookupPreset(name)
	if !ok {
		t.Fatalf("no preset %s", name)
	}
	return p
}

func TestPresetMySQL(t *testing.T) {
	p := prPreset(t, "mysql")
	shims := prShims(t, "mysqldump", "mysql")
	out, err := prRun(t, p.Dump, shims, []string{"MYSQL_ROOT_PASSWORD=r00t", "MYSQL_USER=app", "MYSQL_PASSWORD=apppw"}, "")
	want := "mysqldump [-uroot] [--single-transaction] [--routines] [--events] [--triggers] [--hex-blob] [--all-databases] pwd=r00t pgpw=\n"
	if err != nil || out != want {
		t.Fatalf("dump as root:\n%s%v\nwant\n%s", out, err, want)
	}
	// Without the root password, the application's user; the password never on the command line.
	out, _ = prRun(t, p.Dump, shims, []string{"MYSQL_USER=app", "MYSQL_PASSWORD=apppw"}, "")
	if !strings.HasPrefix(out, "mysqldump [-uapp] [--single-transaction]") || !strings.Contains(out, "pwd=apppw") || strings.Contains(out, "[-papppw]") {
		t.Fatalf("dump as user: %s", out)
	}
	out, err = prRun(t, p.RestoreDump, shims, []string{"MYSQL_ROOT_PASSWORD=r00t", "SHIM_STDIN=1"}, "CREATE DATABASE x;\n")
	if err != nil || out != "mysql [-uroot] pwd=r00t pgpw=\nCREATE DATABASE x;\n" || p.Ext != "sql" || p.RestoreStops {
		t.Fatalf("restore: %q %v", out, err)
	}
}

func TestPresetMariaDB(t *testing.T) {
	p := prPreset(t, "mariadb")
	// A mariadb 11 image has mariadb-dump and mariadb only.
	shims := prShims(t, "mariadb-dump", "mariadb")
	out, err := prRun(t, p.Dump, shims, []string{"MARIADB_ROOT_PASSWORD=m4ria"}, "")
	if err != nil || !strings.HasPrefix(out, "mariadb-dump [-uroot] [--single-transaction] [--routines] [--events] [--triggers] [--hex-blob] [--all-databases] pwd=m4ria") {
		t.Fatalf("dump: %q %v", out, err)
	}
	// An older image: mysqldump, MYSQL_* variables.
	shims = prShims(t, "mysqldump", "mysql")
	out, err = prRun(t, p.RestoreDump, shims, []string{"MYSQL_USER=u", "MYSQL_PASSWORD=p", "SHIM_STDIN=1"}, "x\n")
	if err != nil || out != "mysql [-uu] pwd=p pgpw=\nx\n" {
		t.Fatalf("restore: %q %v", out, err)
	}
}

func TestPresetPostgres(t *testing.T) {
	p := prPreset(t, "postgres")
	shims := prShims(t, "pg_dumpall", "psql")
	out, err := prRun(t, p.Dump, shims, []string{"POSTGRES_USER=rag", "POSTGRES_PASSWORD=pgpw"}, "")
	if err != nil || out != "pg_dumpall [--clean] [--if-exists] [-U] [rag] pwd= pgpw=pgpw\n" {
		t.Fatalf("dump: %q %v", out, err)
	}
	out, _ = prRun(t, p.Dump, shims, nil, "")
	if !strings.Contains(out, "[-U] [postgres]") {
		t.Fatalf("default user: %q", out)
	}
	out, err = prRun(t, p.RestoreDump, shims, []string{"SHIM_STDIN=1"}, "SELECT 1;\n")
	if err != nil || out != "psql [-q] [-v] [ON_ERROR_STOP=0] [-U] [postgres] [-d] [postgres] pwd= pgpw=\nSELECT 1;\n" {
		t.Fatalf("restore: %q %v", out, err)
	}
}

func TestPresetRedisAndValkey(t *testing.T) {
	for _, tc := range []struct{ preset, cli string }{{"redis", "redis-cli"}, {"valkey", "valkey-cli"}, {"valkey", "redis-cli"}} {
		p := prPreset(t, tc.preset)
		shims := prShims(t, tc.cli)
		state := t.TempDir()
		os.WriteFile(filepath.Join(state, "last"), []byte("100\n"), 0o644)
		os.WriteFile(filepath.Join(state, "dump.rdb"), []byte("REDIS0011 snapshot"), 0o644)
		env := []string{"SHIM_STATE=" + state, "REDIS_PASSWORD=rpw"}
		out, err := prRun(t, p.Dump, shims, env, "")
		if err != nil || out != "REDIS0011 snapshot" {
			t.Fatalf("%s via %s: dump %q %v", tc.preset, tc.cli, out, err)
		}
		if last, _ := os.ReadFile(filepath.Join(state, "last")); string(last) != "200\n" {
			t.Fatalf("BGSAVE not asked: LASTSAVE %q", last)
		}
		if auth, _ := os.ReadFile(filepath.Join(state, "auth")); !strings.Contains(string(auth), "auth=rpw") {
			t.Fatalf("password not passed in REDISCLI_AUTH: %q", auth)
		}
		// Restore: the file replaced, the server shut down without saving.
		if _, err := prRun(t, p.RestoreDump, shims, env, "REDIS0011 restored"); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(state, "dump.rdb")); string(b) != "REDIS0011 restored" {
			t.Fatalf("dump.rdb after restore: %q", b)
		}
		if _, err := os.Stat(filepath.Join(state, "shutdown")); err != nil || !p.RestoreStops || p.Ext != "rdb" {
			t.Fatalf("no SHUTDOWN NOSAVE (%v) or RestoreStops %v", err, p.RestoreStops)
		}
		// With AOF on, the restore refuses and leaves the file.
		if _, err := prRun(t, p.RestoreDump, shims, append(env, "SHIM_AOF=yes"), "other"); err == nil {
			t.Fatal("restore with appendonly yes went on")
		}
		if b, _ := os.ReadFile(filepath.Join(state, "dump.rdb")); string(b) != "REDIS0011 restored" {
			t.Fatalf("dump.rdb changed by a refused restore: %q", b)
		}
	}
}

func TestPresetMongoDB(t *testing.T) {
	p := prPreset(t, "mongodb")
	shims := prShims(t, "mongodump", "mongorestore")
	out, err := prRun(t, p.Dump, shims, []string{"MONGO_INITDB_ROOT_USERNAME=admin", "MONGO_INITDB_ROOT_PASSWORD=mpw"}, "")
	if err != nil || out != "mongodump [--archive] [--oplog] [--quiet] [-u] [admin] [-p] [mpw] [--authenticationDatabase] [admin] pwd= pgpw=\n" {
		t.Fatalf("dump: %q %v", out, err)
	}
	out, err = prRun(t, p.RestoreDump, shims, nil, "")
	if err != nil || out != "mongorestore [--archive] [--drop] [--oplogReplay] [--quiet] pwd= pgpw=\n" {
		t.Fatalf("restore without credentials: %q %v", out, err)
	}
}

func TestEveryPresetIsDocumentedAndTested(t *testing.T) {
	tested := map[string]bool{"mysql": true, "mariadb": true, "postgres": true, "redis": true, "valkey": true, "mongodb": true}
	for _, p := range consistency.Presets() {
		if !tested[p.Name] || p.Guarantee == "" || p.Limits == "" || p.Ext == "" || len(p.Dump) == 0 || len(p.RestoreDump) == 0 {
			t.Errorf("preset %+v", p)
		}
	}
	if len(consistency.Presets()) != len(tested) {
		t.Errorf("presets %v", consistency.PresetNames())
	}
}
