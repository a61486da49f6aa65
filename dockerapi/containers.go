package dockerapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"go.uber.org/zap"
)

// ContainerState inspects one container (ID or name).
func (c *Client) ContainerState(ctx context.Context, id string) (Container, error) {
	ctr, err := c.cli.ContainerInspect(ctx, id)
	if err != nil {
		return Container{}, c.engineErr("inspect container "+id, err, ErrContainerNotFound)
	}
	return containerFromInspect(ctr), nil
}

// StopContainers stops the running ones among ids, one after the other in a
// stable order (by name), each with the given grace period before the engine
// kills it (0: the container's own default).
//
// It returns restart, the undo: it starts exactly the containers this call
// stopped, using a fresh context bounded by Options.RestartTimeout — so it
// works after ctx was canceled — and is idempotent (a container it started
// once is not started again; one that failed to start is retried on the
// next call). restart is never nil.
//
// If stopping one container fails, the ones already stopped are started
// again before the error is returned.
func (c *Client) StopContainers(ctx context.Context, ids []string, timeout time.Duration) (restart func() error, err error) {
	type target struct{ id, name string }
	var running []target
	for _, id := range appendUnique(nil, ids...) {
		ct, err := c.ContainerState(ctx, id)
		if err != nil {
			return func() error { return nil }, err
		}
		if ct.Running {
			running = append(running, target{ct.ID, ct.Name})
		}
	}
	sort.SliceStable(running, func(i, j int) bool { return running[i].name < running[j].name })

	var (
		mu      sync.Mutex
		stopped []target
		started = map[string]bool{}
	)
	restart = func() error {
		mu.Lock()
		defer mu.Unlock()
		rctx, cancel := cleanupContext(ctx, c.opts.RestartTimeout)
		defer cancel()
		var errs []error
		for _, t := range stopped {
			if started[t.id] {
				continue
			}
			if err := c.cli.ContainerStart(rctx, t.id, container.StartOptions{}); err != nil {
				errs = append(errs, c.engineErr("start container "+t.name+" again", err, ErrContainerNotFound))
				continue
			}
			started[t.id] = true
			c.log.Info("container started again", zap.String("container", t.name))
		}
		if len(errs) > 0 {
			return fmt.Errorf("restart stopped containers: %w", errors.Join(errs...))
		}
		return nil
	}

	var opt container.StopOptions
	if timeout > 0 {
		secs := int(math.Ceil(timeout.Seconds()))
		opt.Timeout = &secs
	}
	for _, t := range running {
		if err := ctx.Err(); err != nil {
			return restart, c.stopFailed(t.name, err, restart)
		}
		c.log.Info("stopping container", zap.String("container", t.name), zap.Duration("timeout", timeout))
		if err := c.cli.ContainerStop(ctx, t.id, opt); err != nil {
			// it may have stopped anyway (the request was canceled while the
			// engine finished it): then it must be started again too
			if st, ierr := c.stateAfter(ctx, t.id); ierr == nil && !st.Running {
				mu.Lock()
				stopped = append(stopped, t)
				mu.Unlock()
			}
			return restart, c.stopFailed(t.name, c.engineErr("stop container "+t.name, err, ErrContainerNotFound), restart)
		}
		mu.Lock()
		stopped = append(stopped, t)
		mu.Unlock()
	}
	return restart, nil
}

// stateAfter inspects with a fresh short context (ctx may be canceled).
func (c *Client) stateAfter(ctx context.Context, id string) (Container, error) {
	ictx, cancel := cleanupContext(ctx, c.opts.CleanupTimeout)
	defer cancel()
	return c.ContainerState(ictx, id)
}

func (c *Client) stopFailed(name string, cause error, restart func() error) error {
	if rerr := restart(); rerr != nil {
		return fmt.Errorf("stopping %s failed (%w); starting the containers already stopped failed too: %w", name, cause, rerr)
	}
	return fmt.Errorf("stopping %s failed, the containers already stopped were started again: %w", name, cause)
}

// StartContainers starts each container (ID or name) that is not running,
// in the order given; errors are collected, not fatal to the rest.
func (c *Client) StartContainers(ctx context.Context, ids []string) error {
	var errs []error
	for _, id := range ids {
		if err := c.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
			errs = append(errs, c.engineErr("start container "+id, err, ErrContainerNotFound))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("start containers %s: %w", strings.Join(ids, ", "), errors.Join(errs...))
	}
	return nil
}
