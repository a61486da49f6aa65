package jobs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
)

// MustJobWhere polls Get until pred holds and returns the job.
func MustJobWhere(t *testing.T, m *jobs.Manager, id int64, d time.Duration, what string, pred func(jobs.Job) bool) jobs.Job {
	t.Helper()
	var j jobs.Job
	backuptest.Wait(t, d, fmt.Sprintf("job %d: %s", id, what), func() bool {
		var err error
		j, err = m.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("Get(%d): %v", id, err)
		}
		return pred(j)
	})
	return j
}

// MustJobEnded waits for a job to leave the active states.
func MustJobEnded(t *testing.T, m *jobs.Manager, id int64) jobs.Job {
	t.Helper()
	return MustJobWhere(t, m, id, 20*time.Second, "ended", func(j jobs.Job) bool { return !j.Status.Active() })
}

// MustLockFree waits until the lease lock is released.
func MustLockFree(t *testing.T, m *jobs.Manager) {
	t.Helper()
	backuptest.Wait(t, 20*time.Second, "the lock to be released", func() bool {
		li, err := m.Lock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return !li.Held
	})
}

func sv(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// Fake runs.

// blockingRun reports a precheck and a volumes step with some bytes, then
// waits for its ctx (or release, when release is non-nil and ignoreCtx).
type blockingRun struct {
	started   chan backup.Spec // receives the spec when the run begins (buffered)
	release   chan struct{}    // closes: the run returns
	ignoreCtx bool             // wait for release even after ctx ends
	createDir bool             // create (and on cancel remove) a partial pack dir, recorded via BeforeStep

	mu     sync.Mutex
	causes []error
	dirs   []string
}

func newBlockingRun() *blockingRun {
	return &blockingRun{started: make(chan backup.Spec, 256), release: make(chan struct{})}
}

func (b *blockingRun) Run(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
	if spec.Hooks.BeforeStep != nil {
		if err := spec.Hooks.BeforeStep(ctx, progress.StepPrecheck); err != nil {
			return nil, err
		}
	}
	p(progress.Report{Step: progress.StepPrecheck, Message: "checking", Time: time.Now()})
	var dir string
	if b.createDir {
		dir = filepath.Join(spec.Target, pack.PartialPrefix+fmt.Sprintf("%d", time.Now().UnixNano()))
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
		b.mu.Lock()
		b.dirs = append(b.dirs, dir)
		b.mu.Unlock()
	}
	if spec.Hooks.BeforeStep != nil {
		if err := spec.Hooks.BeforeStep(ctx, progress.StepVolumes); err != nil {
			return nil, err
		}
	}
	p(progress.Report{Step: progress.StepVolumes, Item: "demo_data", Percent: 10, BytesDone: 10, BytesTotal: 100, Message: "exporting", Time: time.Now()})
	b.started <- spec
	if b.ignoreCtx {
		<-b.release
	} else {
		select {
		case <-ctx.Done():
		case <-b.release:
		}
	}
	b.mu.Lock()
	b.causes = append(b.causes, context.Cause(ctx))
	b.mu.Unlock()
	if err := ctx.Err(); err != nil {
		if dir != "" {
			os.RemoveAll(dir)
		}
		return nil, &backup.StepError{Step: progress.StepVolumes, Err: context.Cause(ctx)}
	}
	return &backup.Result{Pack: filepath.Join(spec.Target, "migration_pack_fake"), Name: "migration_pack_fake", PackageHash: backuptest.Hex([]byte("fake"))}, nil
}

func (b *blockingRun) lastCause() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.causes) == 0 {
		return nil
	}
	return b.causes[len(b.causes)-1]
}

// waitStarted waits for the run to begin.
func (b *blockingRun) waitStarted(t *testing.T) backup.Spec {
	t.Helper()
	select {
	case s := <-b.started:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("the fake backup did not start")
	}
	return backup.Spec{}
}

// quickRun completes at once.
func quickRun(ctx context.Context, spec backup.Spec, p progress.Func) (*backup.Result, error) {
	p(progress.Report{Step: progress.StepPrecheck, Message: "checking", Time: time.Now()})
	p(progress.Report{Step: progress.StepFinalize, Percent: 100, Message: "done", Time: time.Now()})
	return &backup.Result{Pack: filepath.Join(spec.Target, "migration_pack_quick"), Name: "migration_pack_quick", PackageHash: backuptest.Hex([]byte("quick")), Bytes: 1}, nil
}

// MustStateDB opens the manager's state DB as another process would.
func MustStateDB(t *testing.T, stateDir string) *statedb.DB {
	t.Helper()
	db, err := statedb.Open(context.Background(), stateDir, 5*time.Second, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// mustRead runs fn on the state DB, failing the test on error.
func mustRead(t *testing.T, db *statedb.DB, fn func(tx *statedb.Tx) error) {
	t.Helper()
	if err := db.Read(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// mustWrite runs fn in a write transaction, failing the test on error.
func mustWrite(t *testing.T, db *statedb.DB, fn func(tx *statedb.Tx) error) {
	t.Helper()
	if err := db.Write(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// mustPendingRestarts counts containers recorded as stopped and not started again.
func mustPendingRestarts(t *testing.T, db *statedb.DB, jobID int64, restarted bool) int {
	t.Helper()
	var n int
	mustRead(t, db, func(tx *statedb.Tx) error {
		var err error
		n, err = tx.StoppedCount(jobID, restarted)
		return err
	})
	return n
}
