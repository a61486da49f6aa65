package jobs

import (
	"context"

	"github.com/dockpack/dockpack/backup"
)

// Precheck runs, writing nothing, the prechecks a backup started with req
// would run first (backup.Plan of the spec Start would build): the engine,
// the project's stack, the target mount, the database, free space. The
// error wraps backup.ErrPrecheck when a check failed (the plan's Checks say
// which, in Config.Lang), or backup.ErrInvalidSpec when the settings cannot
// make a backup; Start would refuse or fail the same way. RagFlowAuth's
// page expects such a refusal before a job exists.
func (m *Manager) Precheck(ctx context.Context, req Request) (*backup.PackPlan, error) {
	set, err := m.loadSettings(ctx)
	if err != nil {
		return nil, err
	}
	spec, _, err := m.buildSpec(ctx, set, req)
	if err != nil {
		return nil, err
	}
	spec.Logger = m.log
	return backup.Plan(ctx, spec)
}
