//go:build integration

package integration_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/pack"
)

// TestSealDaemon (issue 16, docs/encryption.md): a daemon asked to
// require encryption without recipients refuses the backup (400); one given an age
// recipients file (and require_encryption) writes sealed classic packs —
// no "SQLite format 3" nor the volume's config file in any file at rest,
// the manifest and GET /v1/packs name the recipient. Without the identity
// setting, a restore drill is blocked, a background verification fails
// and a real restore is refused (400), each naming age_identity_file;
// with it (the daemon restarted on the same state DB) the drill passes,
// the verification passes and the real restore replaces the live
// database with the pack's.
func TestSealDaemon(t *testing.T) {
	t0 := time.Now()
	s := dmNewStack(t, 64<<10)
	target := MustTmpfs(t, 64<<20)
	state := t.TempDir()
	keys := mustSealKeys(t)

	// Asked to require encryption without recipients: the job is refused
	// before it exists (400 plaintext_refused), nothing is written.
	r := dmStart(t, dmOpts{stateDir: state, target: target, stack: s, noSched: true, args: []string{"--require-encryption"}})
	code, b := r.do("POST", "/v1/backups", dmComponents([]string{"db", "volumes"}))
	if code != http.StatusBadRequest || !strings.Contains(string(b), "plaintext_refused") || !strings.Contains(string(b), "require_encryption") {
		t.Errorf("backup required to encrypt without recipients: %d %s, want 400 plaintext_refused naming require_encryption", code, b)
	}
	if packs, partials := TargetDirs(t, target); len(packs)+len(partials) != 0 {
		t.Errorf("the refused backup left %v %v", packs, partials)
	}
	t.Logf("required without recipients: %d %s", code, b)
	r.kill(syscall.SIGTERM)
	r.waitExit(30 * time.Second)

	o := dmOpts{stateDir: state, target: target, stack: s, noSched: true,
		args: []string{"--age-recipients-file", keys.recipientsFile, "--require-encryption"}}
	d := dmStart(t, o)

	j := d.waitEnded(d.start("db", "volumes").ID, 60*time.Second)
	dmAssertPack(t, j)
	dir := *j.OutputDir
	m, _, err := pack.ReadManifest(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Sealed() || len(m.Encryption.Recipients) != 1 || m.Encryption.Recipients[0] != keys.recipient {
		t.Fatalf("manifest encryption %+v, want sealed to %s", m.Encryption, keys.recipient)
	}
	if e := j.Encryption; e == nil || !e.Encrypted || e.Scheme != "age" || len(e.Recipients) != 1 || e.Recipients[0] != keys.recipient {
		t.Errorf("the job JSON's encryption %+v, want sealed to %s", e, keys.recipient)
	}
	frags := [][]byte{[]byte("SQLite format 3"), []byte("[app]\nname=" + s.project + "\n")}
	atRest := filesAtRest(t, dir)
	files := len(atRest)
	for p, b := range atRest {
		for _, f := range frags {
			if bytes.Contains(b, f) {
				t.Errorf("%s holds plaintext %q", p, f)
			}
		}
	}
	_, pb := d.do("GET", "/v1/packs", "")
	if !strings.Contains(string(pb), keys.recipient) {
		t.Errorf("GET /v1/packs does not name the recipient: %s", pb)
	}
	if set := d.settings(); set["age_recipients_file"] != keys.recipientsFile || set["require_encryption"] != true || set["age_identity_file"] != "" {
		t.Errorf("settings: %v", set)
	}
	t.Logf("sealed pack: %d files, none holds plaintext; recipients %v", files, m.Encryption.Recipients)
	if c := sealDoctor(t, d); c.Code != "identity_missing" || !strings.Contains(c.Summary, keys.recipient) {
		t.Errorf("GET /v1/doctor without age_identity_file: encryption %+v, want identity_missing naming %s", c, keys.recipient)
	}

	drillBody := fmt.Sprintf(`{"job_id": %d, "backup_path": %q, "backup_hash": %q, "restore_target": "staging"}`, j.ID, dir, *j.PackageHash)
	restoreBody := fmt.Sprintf(`{"job_id": %d, "backup_path": %q, "backup_hash": %q, "change_reason": "sealed restore", "confirmation_text": "RESTORE"}`, j.ID, dir, *j.PackageHash)

	// Without the identity: blocked / failed / refused, naming the setting.
	code, b = d.do("POST", "/v1/drills", drillBody)
	dr := dmJSON(t, b)
	if code != 200 || dr["acceptance_status"] != "blocked" || !strings.Contains(string(b), "age_identity_file") {
		t.Errorf("drill without identity: %d %s, want blocked naming age_identity_file", code, b)
	}
	t.Logf("drill without identity: %d %s, failed %v", code, dr["acceptance_status"], dr["verification_report"].(map[string]any)["failed"])
	if v := sealVerify(t, d, filepath.Base(dir)); v["ok"] == true || !strings.Contains(fmt.Sprint(v["detail"]), "age_identity_file") {
		t.Errorf("verification without identity: %v", v)
	} else {
		t.Logf("verification without identity: %s %v: %v", v["status"], v["error_code"], v["detail"])
	}
	sealAddRow(t, s.db, "after the pack")
	code, b = d.do("POST", "/v1/restores", restoreBody)
	if code != http.StatusBadRequest || !strings.Contains(string(b), "age_identity_file") {
		t.Errorf("real restore without identity: %d %s, want 400 naming age_identity_file", code, b)
	}
	t.Logf("real restore without identity: %d %s", code, b)
	if n := sealRows(t, s.db); n != 4 {
		t.Errorf("the refused restore changed the live database: %d rows, want 4", n)
	}

	// With the identity (the daemon restarted on the same state DB).
	d.kill(syscall.SIGTERM)
	d.waitExit(30 * time.Second)
	o.args = append(o.args, "--age-identity", keys.idFile)
	d = dmStart(t, o)
	if c := sealDoctor(t, d); c.Status != check.OK {
		t.Errorf("GET /v1/doctor with age_identity_file: encryption %+v, want ok", c)
	}
	code, b = d.do("POST", "/v1/drills", drillBody)
	dr = dmJSON(t, b)
	if code != 200 || dr["acceptance_status"] != "passed" || dr["compare_match"] != true || dr["restored_auth_db_path"] == nil {
		t.Fatalf("drill with identity: %d %s", code, b)
	}
	if n := sealRows(t, dr["restored_auth_db_path"].(string)); n != 3 {
		t.Errorf("the drill's restored database has %d rows, want 3", n)
	}
	if v := sealVerify(t, d, filepath.Base(dir)); v["ok"] != true {
		t.Errorf("verification with identity: %v", v)
	}
	code, b = d.do("POST", "/v1/restores", restoreBody)
	if rr := dmJSON(t, b); code != 200 || rr["result"] != "success" || rr["compare_match"] != true {
		t.Fatalf("real restore with identity: %d %s", code, b)
	}
	if n := sealRows(t, s.db); n != 3 {
		t.Errorf("the live database has %d rows after the restore, want the pack's 3", n)
	}
	dmAssertClean(t, target, s)

	// No secret in the daemon's log, the state DB or --print-config: the
	// identity file holds it, the settings its path.
	secret, err := os.ReadFile(keys.idFile)
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.TrimSpace(secret)
	logb, _ := os.ReadFile(d.logf)
	cfg, err := exec.Command(dmBinary(t), append([]string{"serve", "--print-config", "--state-dir", state, "--target", target}, o.args...)...).CombinedOutput()
	if err != nil || !bytes.Contains(cfg, []byte(keys.idFile)) {
		t.Errorf("--print-config: %v: %s", err, cfg)
	}
	for what, b := range map[string][]byte{"the log": logb, "--print-config": cfg} {
		if bytes.Contains(b, key) || bytes.Contains(bytes.ToUpper(b), []byte("AGE-SECRET-KEY")) {
			t.Errorf("%s holds the identity's secret key", what)
		}
	}
	filepath.WalkDir(state, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, key) {
				t.Errorf("state file %s holds the identity's secret key", p)
			}
		}
		return nil
	})
	t.Logf("TestSealDaemon: %v", time.Since(t0).Round(time.Millisecond))
}

// sealVerify runs a background verification of the pack (POST
// /v1/packs/{name}/verify) and returns it once ended.
func sealVerify(t *testing.T, d *dmDaemon, name string) map[string]any {
	t.Helper()
	code, b := d.do("POST", "/v1/packs/"+name+"/verify", "")
	if code != http.StatusAccepted {
		t.Fatalf("POST verify: %d %s", code, b)
	}
	id := dmJSON(t, b)["id"].(string)
	var v map[string]any
	dmWait(t, 30*time.Second, "the verification's end", func() bool {
		_, b := d.do("GET", "/v1/verifications/"+id, "")
		v = dmJSON(t, b)
		return v["finished_at_ms"] != nil
	})
	return v
}

// sealRows counts the users of a database.
func sealRows(t *testing.T, db string) int {
	t.Helper()
	conn, err := sqlite.OpenConn(db, sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := -1
	if err := sqlitex.ExecuteTransient(conn, "SELECT count(*) FROM users", &sqlitex.ExecOptions{
		ResultFunc: func(st *sqlite.Stmt) error { n = st.ColumnInt(0); return nil }}); err != nil {
		t.Fatal(err)
	}
	return n
}

// sealAddRow adds a user to a database.
func sealAddRow(t *testing.T, db, name string) {
	t.Helper()
	conn, err := sqlite.OpenConn(db, sqlite.OpenReadWrite|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := sqlitex.ExecuteTransient(conn, "INSERT INTO users(name) VALUES (?)", &sqlitex.ExecOptions{Args: []any{name}}); err != nil {
		t.Fatal(err)
	}
}

// sealDoctor is the encryption check of the daemon's GET /v1/doctor.
func sealDoctor(t *testing.T, d *dmDaemon) check.Check {
	t.Helper()
	code, b := d.do("GET", "/v1/doctor", "")
	var rep doctor.Report
	if err := json.Unmarshal(b, &rep); err != nil || code != http.StatusOK {
		t.Fatalf("GET /v1/doctor: %d %s", code, b)
	}
	c, _ := rep.Check(doctor.CheckEncryption)
	t.Logf("doctor's encryption check: %s %s: %s", c.Status, c.Code, c.Summary)
	return c
}
