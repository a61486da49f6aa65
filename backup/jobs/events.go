package jobs

import (
	"context"
	"time"

	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/internal/eventq"
)

// subscriber queues a job's events for one reader: progress is coalesced,
// old events dropped when the reader falls far behind, the final event never.
type subscriber = eventq.Queue[Event]

const subscriberQueueMax = 256

func newSubscriber() *subscriber {
	return eventq.New(subscriberQueueMax, func(last, ev Event) bool {
		return ev.Type == "progress" && last.Type == "progress" && last.Job == nil && ev.Job == nil
	}, func(ev Event) bool { return ev.Type == "final" })
}

// Subscribe delivers a job's events: first its current state (a "progress"
// event carrying Job), then live "progress" and "log" events, then one
// "final" event carrying the finished job, after which the channel is
// closed; it is also closed when ctx ends. A slow reader never blocks the
// job: progress events are coalesced and, far behind, old events dropped —
// never the final one. A job run by another process is followed by polling
// the state DB every PersistInterval.
func (m *Manager) Subscribe(ctx context.Context, id int64) (<-chan Event, error) {
	job, err := m.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	s := newSubscriber()
	if !job.Status.Active() {
		s.Push(Event{Type: "final", JobID: id, Job: &job})
		go s.Pump(ctx, m.base.Done(), func() {})
		return s.Out(), nil
	}
	if jr := m.liveRun(id); jr != nil {
		jr.mu.Lock()
		if jr.finalJob != nil {
			fj := *jr.finalJob
			s.Push(Event{Type: "final", JobID: id, Job: &fj})
		} else {
			cur := job
			var p *progress.Report
			if jr.lastProg != nil {
				cp := *jr.lastProg
				p = &cp
			}
			s.Push(Event{Type: "progress", JobID: id, Job: &cur, Progress: p})
			jr.subs[s] = struct{}{}
		}
		jr.mu.Unlock()
		go s.Pump(ctx, m.base.Done(), func() {
			jr.mu.Lock()
			delete(jr.subs, s)
			jr.mu.Unlock()
		})
		return s.Out(), nil
	}
	cur := job
	s.Push(Event{Type: "progress", JobID: id, Job: &cur})
	go s.Pump(ctx, m.base.Done(), func() {})
	go m.pollSubscription(ctx, s, job)
	return s.Out(), nil
}

// pollSubscription follows a job run by another process through the DB.
func (m *Manager) pollSubscription(ctx context.Context, s *subscriber, last Job) {
	t := time.NewTicker(m.cfg.PersistInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.base.Done():
			return
		case <-t.C:
		}
		j, err := m.Get(ctx, last.ID)
		if err != nil {
			continue
		}
		if !j.Status.Active() {
			s.Push(Event{Type: "final", JobID: j.ID, Job: &j})
			return
		}
		if j.Progress != last.Progress || j.BytesDone != last.BytesDone || j.Status != last.Status || !eqStr(j.Step, last.Step) || !eqStr(j.Message, last.Message) {
			jj := j
			p := &progress.Report{Percent: j.Progress, BytesDone: j.BytesDone, BytesTotal: j.BytesTotal, Time: time.Now()}
			if j.Step != nil {
				p.Step = progress.Step(*j.Step)
			}
			if j.Message != nil {
				p.Message = *j.Message
			}
			s.Push(Event{Type: "progress", JobID: j.ID, Job: &jj, Progress: p})
			last = j
		}
	}
}

func eqStr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
