package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/mountcheck"
)

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("boom"), exitFailure},
		{usageError{errors.New("bad flag")}, exitUsage},
		{fmt.Errorf("%w: no project", backup.ErrInvalidSpec), exitUsage},
		{&backup.StepError{Step: progress.StepPrecheck, Err: mountcheck.ErrNotMounted}, exitPrecheck},
		{&backup.StepError{Step: progress.StepImages, Err: errors.New("x")}, exitFailure},
		{fmt.Errorf("x: %w", pack.ErrVerify), exitVerify},
		{fmt.Errorf("x: %w", pack.ErrPruneRefused), exitVerify},
		{&jobs.BusyError{JobID: 3}, exitBusy},
		{fmt.Errorf("step: %w", context.Canceled), exitCanceled},
		{exitStatus(exitWarn), exitWarn},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
