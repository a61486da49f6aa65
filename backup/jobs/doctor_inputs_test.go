package jobs_test

import (
	"context"
	"slices"
	"testing"

	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
)

func TestDoctorInputsFollowTheSettings(t *testing.T) {
	s := backuptest.Settings(t)
	s.AuthDBPath = "/srv/app/auth.db"
	s.RagflowProjectName = ""
	s.RagflowComposePath = "/srv/My_App/docker-compose.yml"
	m := backuptest.MustManager(t, jobs.Config{Settings: s, StagingDir: "/var/tmp/x"})
	in, err := m.DoctorInputs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []pack.Component{pack.ComponentDB, pack.ComponentVolumes, pack.ComponentImages}
	if in.Project != "my_app" || in.Target != s.TargetLocalDir || in.SQLitePath != s.AuthDBPath || in.StagingDir != "/var/tmp/x" ||
		!slices.Equal(in.Components, want) || in.Engine == nil || in.StateDesc == "" || !in.Policy.AnyFSType {
		t.Fatalf("inputs %+v", in)
	}
	if in.AgeIdentityFile != "" || in.AgeRecipientsFile != "" || in.RequireEncryption {
		t.Fatalf("encryption inputs without settings: %+v", in)
	}
	s.AgeIdentityFile, s.AgeRecipientsFile, s.RequireEncryption = "/etc/dockpack/key.txt", "/etc/dockpack/recipients.txt", true
	m = backuptest.MustManager(t, jobs.Config{Settings: s})
	if in, err = m.DoctorInputs(context.Background()); err != nil || in.AgeIdentityFile != s.AgeIdentityFile ||
		in.AgeRecipientsFile != s.AgeRecipientsFile || !in.RequireEncryption {
		t.Fatalf("encryption inputs: %+v, %v", in, err)
	}
}
