package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/dockpack/dockpack/backup"
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
		{&backup.StepError{Step: backup.StepPrecheck, Err: mountcheck.ErrNotMounted}, exitPrecheck},
		{&backup.StepError{Step: backup.StepImages, Err: errors.New("x")}, exitFailure},
		{fmt.Errorf("x: %w", backup.ErrVerify), exitVerify},
		{fmt.Errorf("x: %w", backup.ErrPruneRefused), exitVerify},
		{&backup.BusyError{JobID: 3}, exitBusy},
		{fmt.Errorf("step: %w", context.Canceled), exitCanceled},
		{exitStatus(exitWarn), exitWarn},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
