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
	"github.com/dockpack/dockpack/backup/prune"
	"github.com/dockpack/dockpack/backup/restore"
	"github.com/dockpack/dockpack/backup/seal"
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
		{fmt.Errorf("x: %w", prune.ErrRefused), exitVerify},
		{&jobs.BusyError{JobID: 3}, exitBusy},
		{fmt.Errorf("step: %w", context.Canceled), exitCanceled},
		{exitStatus(exitWarn), exitWarn},
		// Encryption at rest (backup/seal): refusals before anything is
		// written or changed are prechecks; unusable keys are usage errors.
		{&backup.StepError{Step: progress.StepPrecheck, Err: seal.ErrPlaintextRefused}, exitPrecheck},
		{fmt.Errorf("x: %w", seal.ErrNotWired), exitPrecheck},
		{fmt.Errorf("x: %w", seal.ErrNamingKey), exitPrecheck},
		{fmt.Errorf("x: %w; restore refused, nothing was changed", seal.ErrNoIdentity), exitPrecheck},
		{&restore.StepError{Step: progress.StepVerify, Err: seal.ErrWrongIdentity}, exitPrecheck},
		{fmt.Errorf("x: %w", seal.ErrBadRecipient), exitUsage},
		{fmt.Errorf("x: %w", seal.ErrBadIdentity), exitUsage},
		{fmt.Errorf("%w: %w", seal.ErrInvalidConfig, seal.ErrPassphraseAlone), exitUsage},
		{fmt.Errorf("x: %w", seal.ErrDamaged), exitFailure},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
