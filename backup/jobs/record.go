package jobs

import (
	"github.com/dockpack/dockpack/backup/jobs/internal/statedb"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/internal/owner"
)

// StateDBFile is the state database's file name inside Config.StateDir.
const StateDBFile = statedb.File

// ErrStateDB marks a state database that cannot be opened or migrated.
var ErrStateDB = statedb.ErrUnusable

// SchemaVersion is the state DB schema version this build writes.
func SchemaVersion() int { return statedb.SchemaVersion() }

// jobOf is the job a stored row describes.
func jobOf(r statedb.Job) Job {
	comps := make([]pack.Component, len(r.Components))
	for i, c := range r.Components {
		comps[i] = pack.Component(c)
	}
	return Job{
		ID: r.ID, Kind: Kind(r.Kind), Status: Status(r.Status), Progress: r.Progress, Message: r.Message, Detail: r.Detail,
		OutputDir: r.OutputDir, PackageHash: r.PackageHash, CreatedAtMs: r.CreatedAtMs, StartedAtMs: r.StartedAtMs,
		FinishedAtMs: r.FinishedAtMs, CancelRequestedAtMs: r.CancelRequestedAtMs, CancelReason: r.CancelReason,
		CanceledAtMs: r.CanceledAtMs, VerificationStatus: r.VerificationStatus, VerificationDetail: r.VerificationDetail,
		VerifiedBy: r.VerifiedBy, VerifiedAtMs: r.VerifiedAtMs, LastRestoreDrillID: r.LastRestoreDrillID,
		Project: r.Project, Components: comps, Trigger: r.Trigger, Step: r.Step, BytesDone: r.BytesDone,
		BytesTotal: r.BytesTotal, ErrorCode: r.ErrorCode, HeartbeatAtMs: r.HeartbeatAtMs, PackName: r.PackName,
		Store: storeStatsOf(r.StoreStats), Encryption: encryptionFrom(r.Encryption),
	}
}

// logLines are a job's stored log lines.
func logLines(evs []statedb.Event) []LogLine {
	out := make([]LogLine, len(evs))
	for i, e := range evs {
		out[i] = LogLine(e)
	}
	return out
}

// events are log lines to store.
func events(lines []LogLine) []statedb.Event {
	out := make([]statedb.Event, len(lines))
	for i, l := range lines {
		out[i] = statedb.Event(l)
	}
	return out
}

// jobRecord is the row of a new job run by id.
func jobRecord(j Job, target string, id owner.Identity) statedb.Job {
	comps := make([]string, len(j.Components))
	for i, c := range j.Components {
		comps[i] = string(c)
	}
	return statedb.Job{
		Kind: string(j.Kind), Status: string(j.Status), Message: j.Message, CreatedAtMs: j.CreatedAtMs, StartedAtMs: j.StartedAtMs,
		VerificationStatus: j.VerificationStatus, Project: j.Project, Components: comps, Trigger: j.Trigger,
		HeartbeatAtMs: j.HeartbeatAtMs, Step: j.Step,
		Target: target, OwnerToken: id.Token, OwnerHost: id.Host, OwnerPID: id.PID,
	}
}

func ptr[T any](v T) *T { return &v }
