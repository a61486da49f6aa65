package jobs

import (
	"context"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/settings"
	"github.com/dockpack/dockpack/mountcheck"
)

// DoctorInputs are what the doctor checks for this Manager: its engine,
// its configuration (the target's mount policy, the staging directory) and
// the current settings (target, project, database). The Manager itself is
// the doctor's StateSource (Lock, List). Package doctor cannot be imported
// here (it reads jobs), so the Manager hands over the inputs and the caller
// (the HTTP API's GET /v1/doctor) runs the doctor.
type DoctorInputs struct {
	Engine     Engine
	Project    string // "" when none is configured (the stack check is then skipped)
	Target     string
	SQLitePath string
	Components []pack.Component
	Policy     mountcheck.Policy
	StagingDir string
	// StateDesc says where the lock and the jobs are read (the doctor's evidence).
	StateDesc string
	// The encryption settings (paths, never keys): the doctor's encryption
	// check (age_identity_file, age_recipients_file, require_encryption).
	AgeIdentityFile   string
	AgeRecipientsFile string
	RequireEncryption bool
}

// DoctorInputs returns the doctor's inputs as the Manager's next backup
// would see them.
func (m *Manager) DoctorInputs(ctx context.Context) (DoctorInputs, error) {
	s, err := m.loadSettings(ctx)
	if err != nil {
		return DoctorInputs{}, err
	}
	project := s.RagflowProjectName
	if project == "" {
		project = settings.ComposeProjectName(s.RagflowComposePath)
	}
	comps := []pack.Component{pack.ComponentVolumes}
	if s.AuthDBPath != "" {
		comps = []pack.Component{pack.ComponentDB, pack.ComponentVolumes}
	}
	if s.FullBackupEnabled && s.FullBackupIncludeImages {
		comps = append(comps, pack.ComponentImages)
	}
	return DoctorInputs{Engine: m.cfg.Engine, Project: project, Target: s.TargetLocalDir, SQLitePath: s.AuthDBPath,
		Components: comps, Policy: m.cfg.Policy, StagingDir: m.cfg.StagingDir, StateDesc: "daemon state DB " + m.db.Path(),
		AgeIdentityFile: s.AgeIdentityFile, AgeRecipientsFile: s.AgeRecipientsFile, RequireEncryption: s.RequireEncryption}, nil
}
