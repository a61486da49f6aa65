//go:build integration

package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/transfer"
)

// TestS3Daemon: the daemon's target setting written s3://bucket/prefix,
// with its own endpoint, region and credentials-file settings (the
// process's environment has no AWS_* variable): a backup job writes its
// pack into the bucket (job output s3://…, the manifest's hash the job's),
// the settings count it, GET /v1/packs lists it, a second job with
// backup_retention_max 1 prunes the first through the bucket, a restore
// drill of the second passes (the pack fetched into staging); the secret
// is nowhere — not in the settings JSON, the state dir's files, the
// daemon's log, nor --print-config.
func TestS3Daemon(t *testing.T) {
	srv := MustS3(t)
	s := dmNewStack(t, 64<<10)
	bucket := srv.Bucket(t, "daemon")
	target := "s3://" + bucket + "/site"
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("[default]\naws_access_key_id = "+srv.Access+"\naws_secret_access_key = "+srv.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	args := []string{"--s3-endpoint", srv.Endpoint, "--s3-region", "us-east-1", "--s3-credentials-file", creds, "--backup-retention-max", "1"}
	env := []string{"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null"}
	d := dmStart(t, dmOpts{stateDir: state, target: target, stack: s, args: args, env: env, noSched: true})

	var packs []string
	var last jobs.Job
	for range 2 {
		j := d.waitEnded(d.start("db", "volumes").ID, 2*time.Minute)
		if j.Status != jobs.StatusCompleted || j.OutputDir == nil || !strings.HasPrefix(*j.OutputDir, target+"/"+pack.NamePrefix) {
			t.Fatalf("job %s", dmJobString(j))
		}
		name := strings.TrimPrefix(*j.OutputDir, target+"/")
		_, hash, err := transfer.ReadManifest(context.Background(), srv.Backend(t, bucket, "site"), name)
		if err != nil || hash != *j.PackageHash {
			t.Fatalf("pack %s: hash %s (%v), job says %s", name, hash, err, *j.PackageHash)
		}
		packs = append(packs, name)
		last = j
		t.Logf("job %d: %s", j.ID, *j.OutputDir)
	}
	set := d.settings()
	if set["target_local_dir"] != target || set["s3_endpoint"] != srv.Endpoint || set["s3_credentials_file"] != creds || set["local_backup_pack_count"] != float64(1) {
		t.Fatalf("settings %v", set)
	}
	code, body := d.do("GET", "/v1/packs", "")
	var listed struct {
		Packs []pack.Info `json:"packs"`
	}
	if err := json.Unmarshal(body, &listed); code != 200 || err != nil || len(listed.Packs) != 1 || listed.Packs[0].Name != packs[1] {
		t.Fatalf("GET /v1/packs after the retention: %d %v %s", code, err, body)
	}

	// A restore drill of the pack in the bucket: fetched into staging, verified, its database restored.
	req, _ := json.Marshal(map[string]any{"job_id": last.ID, "backup_path": *last.OutputDir, "backup_hash": *last.PackageHash, "restore_target": "s3drill"})
	code, body = d.do("POST", "/v1/drills", string(req))
	var dr struct {
		Acceptance string `json:"acceptance_status"`
		HashMatch  bool   `json:"hash_match"`
		BackupPath string `json:"backup_path"`
	}
	if err := json.Unmarshal(body, &dr); code != 200 || err != nil || dr.Acceptance != "passed" || !dr.HashMatch || dr.BackupPath != *last.OutputDir {
		t.Fatalf("POST /v1/drills of %s: %d %v %s", *last.OutputDir, code, err, body)
	}

	// The secret is nowhere.
	setJSON, _ := json.Marshal(set)
	if bytes.Contains(setJSON, []byte(srv.Secret)) {
		t.Errorf("the settings carry the secret: %s", setJSON)
	}
	_ = filepath.Walk(state, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(srv.Secret)) {
				t.Errorf("the secret is in the state dir's %s", p)
			}
		}
		return nil
	})
	if b, _ := os.ReadFile(d.logf); bytes.Contains(b, []byte(srv.Secret)) {
		t.Errorf("the secret is in the daemon's log")
	}
	cmd := exec.Command(dmBinary(t), append([]string{"serve", "--print-config", "--state-dir", state, "--target", target}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKPACK_TOKEN="+dmToken)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), creds) || bytes.Contains(out, []byte(srv.Secret)) {
		t.Errorf("--print-config: %v\n%s", err, out)
	}
}
