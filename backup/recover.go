package backup

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/internal/packdir"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/owner"
	"github.com/dockpack/dockpack/mountcheck"
	"github.com/dockpack/dockpack/sqlitesnap"
)

// RecoverEngine is what Recover needs from the Docker Engine
// (*dockerapi.Client satisfies it).
type RecoverEngine interface {
	StartContainers(ctx context.Context, ids []string) error
	RemoveStaleHelpers(ctx context.Context, dead func(owner.Identity) bool) ([]string, error)
}

// RecoverOptions says where Recover looks for a dead writer's debris.
type RecoverOptions struct {
	// Engine, when set, restarts containers a dead writer stopped and
	// removes its helper containers and images.
	Engine RecoverEngine
	// Target, when set and present, is searched for partial packs of dead writers.
	Target string
	// StagingDir, when set, is searched for staged database copies of dead writers.
	StagingDir string
	// Dead judges an owner. Default: provably dead on this host (owner.Identity.Dead).
	Dead func(owner.Identity) bool
	// Logger receives a line per action. Default zap.NewNop().
	Logger *zap.Logger
}

// Recovered is what Recover did.
type Recovered struct {
	Partials  []string `json:"partials"`  // partial packs removed
	Helpers   []string `json:"helpers"`   // helper containers and images removed
	Staged    []string `json:"staged"`    // staged database copies removed
	Restarted []string `json:"restarted"` // containers started again
}

// Empty reports whether nothing was found.
func (r Recovered) Empty() bool {
	return len(r.Partials)+len(r.Helpers)+len(r.Staged)+len(r.Restarted) == 0
}

// Recover removes what writers that died left behind — their partial packs
// (found by their owner records, through the pinned target directory),
// helper containers and images (by their owner labels), staged copies of
// the database — and starts again the containers they had stopped. Only the
// debris of owners Dead judges dead is touched: a live backup's (a
// concurrent CLI run, the daemon's running job) never. The daemon runs it
// at start-up and at every lease takeover, the CLI before every backup.
func Recover(ctx context.Context, o RecoverOptions) (Recovered, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Dead == nil {
		host, _ := os.Hostname()
		o.Dead = func(id owner.Identity) bool { return id.Dead(host) }
	}
	var out Recovered
	var errs []error
	if o.Target != "" {
		if err := recoverPartials(ctx, o, &out); err != nil {
			errs = append(errs, err)
		}
	}
	if o.Engine != nil {
		removed, err := o.Engine.RemoveStaleHelpers(ctx, o.Dead)
		out.Helpers = removed
		if err != nil {
			errs = append(errs, err)
		}
	}
	if o.StagingDir != "" {
		removed, err := sqlitesnap.RemoveStale(ctx, o.StagingDir, o.Dead)
		out.Staged = removed
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range out.Partials {
		o.Logger.Warn("recovery: partial pack of a dead writer removed", zap.String("dir", p))
	}
	for _, h := range out.Helpers {
		o.Logger.Warn("recovery: helper of a dead writer removed", zap.String("helper", h))
	}
	for _, s := range out.Staged {
		o.Logger.Warn("recovery: staged database copy of a dead writer removed", zap.String("dir", s))
	}
	return out, errors.Join(errs...)
}

// recoverPartials handles the owner records in the target: a dead owner's
// stopped containers are started, then its partial pack is removed.
func recoverPartials(ctx context.Context, o RecoverOptions, out *Recovered) error {
	if _, err := os.Stat(o.Target); err != nil {
		return nil // no target (yet), or not mounted: nothing of ours can be there
	}
	pin, err := mountcheck.Pin(ctx, o.Target)
	if err != nil {
		return fmt.Errorf("recovery in %s: %w", o.Target, err)
	}
	defer pin.Close()
	root, err := pin.OpenRoot()
	if err != nil {
		return fmt.Errorf("recovery in %s: %w", o.Target, err)
	}
	defer root.Close()
	recs, rerr := packdir.Records(root)
	var errs []error
	if rerr != nil {
		errs = append(errs, rerr)
	}
	for _, rec := range recs {
		if !o.Dead(rec.Owner) {
			continue
		}
		if len(rec.Stopped) > 0 && o.Engine != nil {
			if err := restartStopped(ctx, o, rec, out); err != nil {
				errs = append(errs, err)
				continue // keep the record: the next recovery tries again
			}
		}
		if err := packdir.Remove(root, rec); err != nil {
			errs = append(errs, err)
			continue
		}
		out.Partials = append(out.Partials, rec.Partial)
	}
	return errors.Join(errs...)
}

func restartStopped(ctx context.Context, o RecoverOptions, rec packdir.Record, out *Recovered) error {
	for _, c := range rec.Stopped {
		err := o.Engine.StartContainers(ctx, []string{c.ID})
		switch {
		case err == nil:
			o.Logger.Warn("recovery: container stopped by a dead writer started again", zap.String("container", c.Name))
			out.Restarted = append(out.Restarted, c.Name)
		case errors.Is(err, dockerapi.ErrContainerNotFound):
			o.Logger.Warn("recovery: container stopped by a dead writer no longer exists", zap.String("container", c.Name))
		default:
			return fmt.Errorf("recovery: start container %s again (stopped by %s): %w", c.Name, rec.Owner, err)
		}
	}
	return nil
}
