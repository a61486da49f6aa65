package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/dockerapi"
	"go.uber.org/zap"
)

// liveRestores ends the real restores whose process died or lost
// the lock (status running, but their lock token holds no live lease) as
// failed, and starts again every container a restore stopped and did not
// record as running again. It runs with the other recoveries, and at the
// start of each real restore (which then holds the lock, so no other
// restore can be alive). say receives a line per action.
func (m *Recoverer) liveRestores(ctx context.Context, say func(jobID int64, level, msg string)) {
	var (
		rows []statedb.LiveRestore
		lock *statedb.Lock
	)
	if err := m.DB.ReadTx(ctx, func(tx *statedb.Tx) error {
		var err error
		if rows, err = tx.UnsettledLiveRestores(); err != nil {
			return err
		}
		lock, err = tx.Lock()
		return err
	}); err != nil {
		m.Log.Error("cannot read the real restores to recover", zap.Error(err))
		return
	}
	for _, r := range rows {
		if r.Status == statedb.LiveRestoreRunning {
			if lock != nil && lock.OwnerToken == r.LeaseToken {
				if live, _ := m.Judge(lock, m.Now()); live {
					continue // it runs
				}
			}
			m.endInterrupted(ctx, r, say)
		}
		if len(r.Stopped) == 0 || r.RestartedAtMs != nil {
			continue
		}
		ids, names := make([]string, len(r.Stopped)), make([]string, len(r.Stopped))
		for i, c := range r.Stopped {
			ids[i], names[i] = c.ID, c.Name
		}
		err := m.Engine.StartContainers(ctx, ids)
		if err != nil && !errors.Is(err, dockerapi.ErrContainerNotFound) {
			say(r.JobID, "error", m.tr("liverestore.log.restart_failed", strings.Join(names, ", "), r.RestoreID, err))
			continue
		}
		say(r.JobID, "info", m.tr("liverestore.log.restarted", strings.Join(names, ", "), r.RestoreID))
		_ = m.DB.Write(ctx, func(tx *statedb.Tx) error { return tx.MarkLiveRestoreRestarted(r.RestoreID, m.Now().UnixMilli()) })
	}
}

// endInterrupted records a dead real restore as failed.
func (m *Recoverer) endInterrupted(ctx context.Context, r statedb.LiveRestore, say func(int64, string, string)) {
	var lr restore.LiveRecord
	if err := json.Unmarshal(r.Body, &lr); err != nil {
		lr = restore.LiveRecord{RestoreID: r.RestoreID, JobID: r.JobID, ExecutedBy: r.ExecutedBy, ChangeReason: r.ChangeReason, ExecutedAtMs: r.ExecutedAtMs}
	}
	now := m.Now().UnixMilli()
	msg := m.tr("liverestore.log.interrupted", r.RestoreID, r.ExecutedBy)
	lr.Interrupted(msg, now)
	body, err := json.Marshal(lr)
	if err == nil {
		err = m.DB.Write(ctx, func(tx *statedb.Tx) error {
			return tx.FinishLiveRestore(statedb.LiveRestore{RestoreID: r.RestoreID, Status: lr.Status, FinishedAtMs: &now,
				LiveHash: r.LiveHash, BeforeHash: r.BeforeHash, BeforePath: r.BeforePath, Body: body})
		})
	}
	if err != nil {
		say(r.JobID, "error", fmt.Sprintf("cannot record the interrupted real restore %s: %v", r.RestoreID, err))
		return
	}
	say(r.JobID, "warn", msg)
}

// LiveRestores ends the real restores a dead process left (see
// liveRestores), logging each action and adding it to the job's log: a
// real restore calls it once it holds the lock.
func (m *Recoverer) LiveRestores(ctx context.Context) {
	m.liveRestores(ctx, func(jobID int64, level, msg string) { m.say(ctx, jobID, level, msg, nil) })
}
