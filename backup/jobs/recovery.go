package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	"zombiezen.com/go/sqlite"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/owner"
)

// Recovery ends what a dead (or displaced) owner left behind: its jobs still
// queued/running/canceling become failed with error code "interrupted", the
// partial pack directories they recorded are removed, and every container
// recorded as stopped by a job that is no longer active and not marked
// restarted is started again. It runs at NewManager and, in the new job's
// goroutine before its backup starts, whenever Start takes over a lease.

// markInterrupted ends every active job but except as failed/interrupted,
// inside the caller's transaction, and returns them as they were.
func markInterrupted(conn *sqlite.Conn, except int64, nowMs int64, by owner.Identity, why, message string) ([]jobRow, error) {
	var rows []jobRow
	if err := query(conn, `SELECT `+jobColumns+` FROM jobs WHERE status IN `+activeStatuses+` AND id != ? ORDER BY id`,
		func(stmt *sqlite.Stmt) error {
			rows = append(rows, scanJob(stmt))
			return nil
		}, except); err != nil {
		return nil, fmt.Errorf("state db: find interrupted jobs: %w", err)
	}
	for _, r := range rows {
		detail := fmt.Sprintf("the process running job %d (host %s pid %d) stopped without finishing it: %s; recovered by %s",
			r.ID, r.OwnerHost, r.OwnerPID, why, by)
		if err := exec(conn, `UPDATE jobs SET status = 'failed', error_code = 'interrupted', message = ?, detail = ?, finished_at_ms = ?
			WHERE id = ? AND status IN `+activeStatuses, message, detail, nowMs, r.ID); err != nil {
			return nil, fmt.Errorf("state db: mark job %d interrupted: %w", r.ID, err)
		}
		if err := exec(conn, `INSERT INTO job_events (job_id, at_ms, level, message) VALUES (?, ?, 'error', ?)`,
			r.ID, nowMs, "recovery: "+detail); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// recoverAtStart recovers every active job not covered by a live lease and
// deletes a lock row whose lease is not live.
func (m *Manager) recoverAtStart(ctx context.Context) error {
	var recovered []jobRow
	err := m.st.write(ctx, func(conn *sqlite.Conn) error {
		l, err := readLock(conn)
		if err != nil {
			return err
		}
		var except int64
		why := "found unfinished when dockpack started"
		if l != nil {
			if live, reason := m.judgeLease(l, m.cfg.Now()); live {
				except = l.JobID
			} else {
				why = reason
				if err := exec(conn, `DELETE FROM backup_locks WHERE name = 'backup'`); err != nil {
					return err
				}
				m.log.Warn("stale backup lock removed at start-up", zap.Int64("job_id", l.JobID), zap.String("reason", reason))
			}
		}
		recovered, err = markInterrupted(conn, except, m.cfg.Now().UnixMilli(), m.id, why, m.tr("job.interrupted"))
		return err
	})
	if err != nil {
		return err
	}
	for _, r := range recovered {
		m.log.Warn("job interrupted by a dead process recovered", zap.Int64("job_id", r.ID), zap.String("owner_host", r.OwnerHost), zap.Int("owner_pid", r.OwnerPID))
	}
	m.cleanupRecovered(ctx, recovered, nil)
	return nil
}

// cleanupRecovered removes the recovered jobs' partial directories, starts
// every container still recorded as stopped by a job no longer active, and
// reports each recovered job to OnJobEnd. note (may be nil) receives a line
// per action for the log of the job that triggered the recovery.
func (m *Manager) cleanupRecovered(ctx context.Context, jobs []jobRow, note func(level, msg string)) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RecoveryTimeout)
	defer cancel()
	say := func(jobID int64, level, msg string) {
		if level == "error" {
			m.log.Error(msg, zap.Int64("job_id", jobID))
		} else {
			m.log.Info(msg, zap.Int64("job_id", jobID))
		}
		if note != nil {
			note(level, msg)
		}
		_ = m.st.write(ctx, func(conn *sqlite.Conn) error {
			return insertEvents(conn, jobID, []LogLine{{AtMs: m.cfg.Now().UnixMilli(), Level: level, Message: "recovery: " + msg}}, m.cfg.EventsPerJob)
		})
	}
	for _, j := range jobs {
		if note != nil {
			note("warn", m.tr("job.log.recovered", j.ID, j.OwnerHost, j.OwnerPID))
		}
		for _, p := range j.PartialDirs {
			if !strings.HasPrefix(filepath.Base(p), pack.PartialPrefix) || !filepath.IsAbs(p) {
				say(j.ID, "error", fmt.Sprintf("not removing %q: it is not a partial pack directory", p))
				continue
			}
			if err := removeBounded(ctx, p, m.cfg.StatTimeout*5); err != nil {
				say(j.ID, "error", fmt.Sprintf("cannot remove partial pack %s of job %d: %v", p, j.ID, err))
				continue
			}
			say(j.ID, "info", m.tr("job.log.partial_removed", p, j.ID))
		}
	}
	m.restartRecordedContainers(ctx, say)
	for _, j := range jobs {
		if job, err := m.Get(ctx, j.ID); err == nil {
			m.jobEnded(job)
		}
	}
}

type stoppedContainer struct {
	JobID int64
	ID    string
	Name  string
}

// restartRecordedContainers starts every container recorded as stopped by a
// job that is no longer active and not yet marked restarted. Starting a
// running container is a no-op for the engine; a container that no longer
// exists is marked done.
func (m *Manager) restartRecordedContainers(ctx context.Context, say func(jobID int64, level, msg string)) {
	var pending []stoppedContainer
	if err := m.st.read(ctx, func(conn *sqlite.Conn) error {
		return query(conn, `SELECT sc.job_id, sc.container_id, sc.name FROM job_stopped_containers sc JOIN jobs j ON j.id = sc.job_id
			WHERE sc.restarted_at_ms IS NULL AND j.status NOT IN `+activeStatuses+` ORDER BY sc.job_id, sc.name`,
			func(stmt *sqlite.Stmt) error {
				pending = append(pending, stoppedContainer{JobID: stmt.ColumnInt64(0), ID: stmt.ColumnText(1), Name: stmt.ColumnText(2)})
				return nil
			})
	}); err != nil {
		m.log.Error("cannot read containers to restart", zap.Error(err))
		return
	}
	for _, c := range pending {
		err := m.cfg.Engine.StartContainers(ctx, []string{c.ID})
		switch {
		case err == nil:
			say(c.JobID, "info", m.tr("job.log.container_started", c.Name, c.JobID))
		case errors.Is(err, dockerapi.ErrContainerNotFound):
			say(c.JobID, "warn", fmt.Sprintf("container %s stopped by job %d no longer exists; nothing to start", c.Name, c.JobID))
		default:
			say(c.JobID, "error", fmt.Sprintf("cannot start container %s again (stopped by job %d): %v; it will be retried at the next recovery, or start it by hand", c.Name, c.JobID, err))
			continue
		}
		_ = m.st.write(ctx, func(conn *sqlite.Conn) error {
			return exec(conn, `UPDATE job_stopped_containers SET restarted_at_ms = ? WHERE job_id = ? AND container_id = ?`,
				m.cfg.Now().UnixMilli(), c.JobID, c.ID)
		})
	}
}

func recordStopped(conn *sqlite.Conn, jobID int64, cs []dockerapi.Container, nowMs int64) error {
	for _, c := range cs {
		if err := exec(conn, `INSERT INTO job_stopped_containers (job_id, container_id, name, recorded_at_ms) VALUES (?, ?, ?, ?)
			ON CONFLICT(job_id, container_id) DO UPDATE SET restarted_at_ms = NULL`, jobID, c.ID, c.Name, nowMs); err != nil {
			return fmt.Errorf("state db: record stopped container %s: %w", c.Name, err)
		}
	}
	return nil
}

func markRestarted(conn *sqlite.Conn, jobID int64, cs []dockerapi.Container, nowMs int64) error {
	for _, c := range cs {
		if err := exec(conn, `UPDATE job_stopped_containers SET restarted_at_ms = ? WHERE job_id = ? AND container_id = ?`,
			nowMs, jobID, c.ID); err != nil {
			return err
		}
	}
	return nil
}

func recordPartials(conn *sqlite.Conn, jobID int64, dirs []string) error {
	b, _ := json.Marshal(dirs)
	return exec(conn, `UPDATE jobs SET partial_dirs = ? WHERE id = ?`, string(b), jobID)
}

// removeBounded removes path, giving up (with an error) after d: a hung
// network mount must not hang recovery. The removal goes on in the background.
func removeBounded(ctx context.Context, path string, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- os.RemoveAll(path) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	case <-t.C:
		return fmt.Errorf("removing %s did not finish within %s (is the mount hung?)", path, d)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readDirNamesBounded lists the names in dir, giving up after d.
func readDirNamesBounded(ctx context.Context, dir string, d time.Duration) ([]os.DirEntry, error) {
	type res struct {
		ents []os.DirEntry
		err  error
	}
	done := make(chan res, 1)
	go func() {
		ents, err := os.ReadDir(dir)
		done <- res{ents, err}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-done:
		return r.ents, r.err
	case <-t.C:
		return nil, fmt.Errorf("listing %s did not finish within %s (is the mount hung?)", dir, d)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
