package main

import (
	"context"
	"errors"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/prune"
	"github.com/dockpack/dockpack/backup/seal"
)

// Exit codes of the dockpack command. This is the one place errors map to them.
const (
	exitOK       = 0
	exitFailure  = 1   // the operation ran and failed
	exitUsage    = 2   // bad flags or arguments
	exitPrecheck = 3   // refused before anything was written (mount, space, project, …)
	exitVerify   = 4   // a pack failed verification
	exitBusy     = 5   // another backup holds the lock
	exitWarn     = 6   // doctor: the worst verdict is a warning
	exitCanceled = 130 // interrupted (SIGINT/SIGTERM); everything cleaned up
)

// usageError marks errors in how the command was called.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// exitStatus lets a command choose its exit code without an error message
// (e.g. doctor's verdict).
type exitStatus int

func (e exitStatus) Error() string { return "" }

func exitCode(err error) int {
	var st exitStatus
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &st):
		return int(st)
	case errors.Is(err, context.Canceled):
		return exitCanceled
	case errors.As(err, &ue), errors.Is(err, backup.ErrInvalidSpec),
		errors.Is(err, seal.ErrInvalidConfig), errors.Is(err, seal.ErrBadRecipient), errors.Is(err, seal.ErrBadIdentity), errors.Is(err, seal.ErrPassphraseAlone):
		return exitUsage
	case errors.Is(err, seal.ErrPlaintextRefused), errors.Is(err, seal.ErrNotWired), errors.Is(err, seal.ErrNoIdentity), errors.Is(err, seal.ErrWrongIdentity),
		errors.Is(err, seal.ErrNamingKey), errors.Is(err, seal.ErrNamingKeyExists):
		return exitPrecheck // refused before anything was written or changed
	case errors.Is(err, pack.ErrVerify), errors.Is(err, prune.ErrRefused):
		return exitVerify
	case errors.Is(err, jobs.ErrBusy):
		return exitBusy
	case errors.Is(err, backup.ErrPrecheck):
		return exitPrecheck
	}
	return exitFailure
}
