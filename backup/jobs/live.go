package jobs

import (
	"fmt"
	"time"

	"github.com/dockpack/dockpack/backup/progress"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// snapshot is the live view of the job.
func (jr *jobRun) snapshot() Job {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if jr.finalJob != nil {
		return *jr.finalJob
	}
	return jr.job
}

// overlay puts the live progress over a job read from the DB, as long as
// the DB still shows it active.
func (jr *jobRun) overlay(j *Job) {
	if !j.Status.Active() {
		return
	}
	jr.mu.Lock()
	defer jr.mu.Unlock()
	// Also while the final state is being written: the DB row read may
	// predate it, and progress must not appear to go backwards.
	j.Progress = max(j.Progress, jr.job.Progress)
	j.BytesDone = max(j.BytesDone, jr.job.BytesDone)
	if jr.job.BytesTotal > 0 {
		j.BytesTotal = jr.job.BytesTotal
	}
	if jr.job.Step != nil {
		j.Step = jr.job.Step
	}
	if jr.job.Message != nil {
		j.Message = jr.job.Message
	}
	if jr.job.HeartbeatAtMs != nil && (j.HeartbeatAtMs == nil || *jr.job.HeartbeatAtMs > *j.HeartbeatAtMs) {
		j.HeartbeatAtMs = jr.job.HeartbeatAtMs
	}
}

// addLog records a job log line (persisted with the next progress write)
// and sends it to subscribers.
func (jr *jobRun) addLog(level, msg string) {
	jr.mu.Lock()
	jr.addLogLocked(level, msg)
	jr.mu.Unlock()
}

func (jr *jobRun) addLogLocked(level, msg string) {
	l := LogLine{AtMs: jr.m.cfg.Now().UnixMilli(), Level: level, Message: msg}
	jr.logs = append(jr.logs, l)
	if over := len(jr.logs) - jr.m.cfg.EventsPerJob; over > 0 {
		jr.logs = jr.logs[over:]
	}
	jr.broadcastLocked(Event{Type: "log", JobID: jr.id, Log: &l})
}

// logk logs a catalog message (in the configured language).
func (jr *jobRun) logk(level, key string, args ...any) {
	jr.logf(level, "%s", jr.m.tr(key, args...))
}

// logf logs to the manager's logger and to the job's log.
func (jr *jobRun) logf(level, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		lvl = zapcore.InfoLevel
	}
	if ce := jr.m.log.Check(lvl, msg); ce != nil {
		ce.Write(zap.Int64("job_id", jr.id))
	}
	jr.addLog(level, msg)
}

func (jr *jobRun) pendingLogs() []LogLine {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	return append([]LogLine(nil), jr.logs...)
}

func (jr *jobRun) broadcastLocked(ev Event) {
	for s := range jr.subs {
		s.Push(ev)
	}
}

// onProgress is the ProgressFunc given to Run. It never blocks on I/O.
func (jr *jobRun) onProgress(p progress.Report) {
	now := time.Now()
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if jr.finalized {
		return
	}
	p.Percent = max(p.Percent, jr.job.Progress)
	p.Percent = min(p.Percent, 100)
	jr.job.Progress = p.Percent
	stepChanged := p.Step != jr.actStep
	itemChanged := stepChanged || p.Item != jr.actItem
	if itemChanged {
		jr.actStep, jr.actItem = p.Step, p.Item
		jr.lastAct, jr.sawByte, jr.stepTotal = now, false, p.StepTotal
	}
	if p.BytesDone > jr.job.BytesDone {
		jr.job.BytesDone = p.BytesDone
		jr.lastAct = now
		if !itemChanged {
			jr.sawByte = true
		}
	}
	p.BytesDone = jr.job.BytesDone
	if p.Message != jr.actMsg {
		jr.actMsg = p.Message
		jr.lastAct = now
	}
	jr.job.Step = ptr(string(p.Step))
	jr.job.Message = ptr(p.Message)
	if p.BytesTotal > 0 {
		jr.job.BytesTotal = p.BytesTotal
	}
	jr.dirty = true
	cp := p
	jr.lastProg = &cp
	if itemChanged {
		what := string(p.Step)
		if p.Item != "" {
			what += " (" + p.Item + ")"
		}
		jr.addLogLocked("info", "step "+what+": "+p.Message)
	}
	jr.broadcastLocked(Event{Type: "progress", JobID: jr.id, Progress: &cp})
	if stepChanged {
		jr.force = true
		jr.signal()
	}
}
