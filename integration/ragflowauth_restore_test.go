//go:build integration

package integration_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// TestRagFlowAuthRealRestoreOfALiveDatabase: 真实恢复当前数据 on a database
// an application holds open and writes to (a container outside the
// backed-up project, named in restore_stop_services by label). Refused —
// with nothing stopped, kept or recorded — without RESTORE, on a tampered
// pack and while another process's backup runs; then done: the application
// is stopped, the database replaced (its logical content is the pack's),
// the application runs and writes again, and the replaced database is
// kept beside it with what it held (its WAL included).
func TestRagFlowAuthRealRestoreOfALiveDatabase(t *testing.T) {
	s := raNewStack(t, 64<<10)
	writer, sel := raWriter(t, s)
	target := MustTmpfs(t, 256<<20)
	state := t.TempDir()
	o := dmOpts{stateDir: state, target: target, stack: s, noSched: true}
	a := o
	a.args, a.env = append([]string{"--restore-stop", sel}, raJWTArgs...), raJWTEnv
	d := dmStart(t, a)
	page := &raPage{t: t, d: d, token: raToken(t, raClaims("u-admin"), nil, nil)}
	t.Cleanup(func() { t.Logf("%d requests:\n  %s", len(page.sent), strings.Join(page.sent, "\n  ")) })

	job, _ := page.poll(page.start("/backup/run"), 2*time.Minute)
	if job["status"] != "completed" {
		t.Fatalf("backup: %v", job)
	}
	packDB := filepath.Join(job["output_dir"].(string), "auth.db")
	_, packSum := raDump(t, packDB, true)
	packEvents := raCount(t, raCopy(t, packDB), "events")
	dmWait(t, 30*time.Second, "the application writing past the pack", func() bool { return raCount(t, s.db, "events") > packEvents+5 })
	body := func(confirm string) string {
		return fmt.Sprintf(`{"job_id": %v, "backup_path": %q, "backup_hash": %q, "change_reason": "recover deleted user"%s}`,
			job["id"], job["output_dir"], job["package_hash"], confirm)
	}
	raRestoreRefusals(t, page, s, writer, packDB, body, o)
	started := raStartedAt(t, s, writer)

	// The restore. The application stops writing but keeps the database
	// open: only stopping it frees the database.
	raPause(t, s, true)
	beforeDump, _ := raDump(t, s.db, false)
	t0 := time.Now()
	code, rr := page.call("POST", raCompat+"/restore/run", body(`, "confirmation_text": "RESTORE"`))
	t.Logf("real restore answered %d in %v: %v", code, time.Since(t0).Round(time.Millisecond), rr)
	if code != 200 || rr["live_auth_db_path"] != s.db || rr["hash_match"] != true || rr["compare_match"] != true || rr["result"] != "success" ||
		rr["executed_by"] != "u-admin" || rr["services_restarted"] != true || fmt.Sprint(rr["stopped_containers"]) != fmt.Sprintf("[%s-authsvc]", s.project) {
		t.Fatalf("real restore: %d %v", code, rr)
	}
	if raStartedAt(t, s, writer) == started || !dockertest.Running(t, s.cli, writer) {
		t.Errorf("the application was not stopped and started again")
	}
	if _, liveSum := raDump(t, s.db, false); liveSum != packSum {
		t.Errorf("the live database's content is not the pack's")
	}
	kept := rr["before_restore_path"].(string)
	if !strings.HasPrefix(kept, s.db+sqlitesnap.BeforeRestoreSuffix) {
		t.Fatalf("kept copy %q", kept)
	}
	if keptDump, _ := raDump(t, kept, true); keptDump != beforeDump {
		t.Errorf("the kept copy is not the database as it was just before the restore")
	}
	raPause(t, s, false)
	dmWait(t, 30*time.Second, "the application writing again", func() bool { return raCount(t, s.db, "events") > packEvents+2 })

	_, list := d.do("GET", "/v1/restores", "")
	m := dmJSON(t, list)
	items, _ := m["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("restores %s", list)
	}
	rec := items[0].(map[string]any)
	if rec["executed_by"] != "u-admin" || rec["change_reason"] != "recover deleted user" || rec["status"] != "completed" ||
		rec["source_auth_db_hash"] == "" || rec["source_auth_db_hash"] != rec["live_auth_db_hash"] || rec["before_restore_hash"] == "" {
		t.Errorf("recorded restore %v", rec)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Error(err)
	}
}

// raRestoreRefusals: a real restore without RESTORE or a reason, of a
// tampered pack, or while another process's backup runs (o, held in its
// precheck) is refused, and nothing happens: the application is not
// stopped, nothing is kept, no restore is recorded.
func raRestoreRefusals(t *testing.T, page *raPage, s *dmStack, writer, packDB string, body func(string) string, o dmOpts) {
	t.Helper()
	started := raStartedAt(t, s, writer)
	refused := func(what string, wantCode int, wantDetail, b string) {
		t.Helper()
		code, r := page.call("POST", raCompat+"/restore/run", b)
		if d, _ := r["detail"].(string); code != wantCode || !strings.HasPrefix(d, wantDetail) {
			t.Errorf("%s: %d %v, want %d %s…", what, code, r, wantCode, wantDetail)
		}
		if raStartedAt(t, s, writer) != started || !dockertest.Running(t, s.cli, writer) {
			t.Errorf("%s: the application was stopped", what)
		}
		if kept, _ := filepath.Glob(s.db + sqlitesnap.BeforeRestoreSuffix + "*"); len(kept) != 0 {
			t.Errorf("%s: kept copies %v", what, kept)
		}
		if _, b := page.d.do("GET", "/v1/restores", ""); !strings.Contains(string(b), `"count":0`) {
			t.Errorf("%s: a restore was recorded: %s", what, b)
		}
	}
	refused("no confirmation", 400, "restore_confirmation_text_required", body(""))
	refused("lowercase confirmation", 400, "restore_confirmation_text_invalid", body(`, "confirmation_text": "restore"`))
	refused("no reason", 400, "change_reason_required", strings.Replace(body(`, "confirmation_text": "RESTORE"`), "recover deleted user", " ", 1))
	rsFlipMid(t, packDB)
	refused("tampered pack", 400, "restore_pack_verification_failed", body(`, "confirmation_text": "RESTORE"`))
	rsFlipMid(t, packDB)

	hold := t.TempDir()
	b := o
	b.env = []string{"DOCKPACK_TEST_HOLD_STEP=precheck", "DOCKPACK_TEST_HOLD_DIR=" + hold}
	other := dmStart(t, b)
	held := other.start("volumes")
	other.waitHeld(hold, progress.StepPrecheck, held.ID)
	refused("a backup runs", 409, fmt.Sprintf("restore_requires_no_active_backup_job:%d", held.ID), body(`, "confirmation_text": "RESTORE"`))
	other.do("POST", fmt.Sprintf("/v1/jobs/%d/cancel", held.ID), "")
	other.waitEnded(held.ID, 30*time.Second)
	dmWait(t, 10*time.Second, "the lock free", func() bool { return !page.d.lock().Held })
}
