package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/internal/packdir"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/internal/fsutil"
	"github.com/dockpack/dockpack/internal/owner"
)

// packSink is where a backup writes its pack: a directory on the pinned
// target (packdir.Dir: a partial directory renamed complete) or object
// storage (objSink: objects under <name>/, manifest.json last).
type packSink interface {
	WriteFile(ctx context.Context, rel string, wrap func(io.Writer) io.Writer, produce func(w io.Writer) error) (int64, string, error)
	RecordStopped(ctx context.Context, cs []packdir.Container) error
	RecordRestarted(ctx context.Context) error
	Commit(ctx context.Context, before func(ctx context.Context) error) error
	Abort() error
	Close() error
	Partial() string
	Final() string
}

var _ packSink = (*packdir.Dir)(nil)

// RemotePartialsPrefix holds the owner records of packs being written to
// object storage (<name>.<owner tag>.json: packdir.Record), so what a dead
// writer left is attributable and removable.
const RemotePartialsPrefix = ".dockpack/partials/"

// objSink writes a pack onto a storage.Backend without a rename: each file
// is an object under <name>/ streamed as it is produced (a multipart
// upload on object storage: nothing staged locally), SHA256SUMS before
// manifest.json, and manifest.json — the object that makes a pack a pack —
// last, with an exclusive create. Until then an owner record under
// RemotePartialsPrefix names the writer; Abort removes what was written.
type objSink struct {
	b       storage.Backend
	name    string
	rec     packdir.Record
	recKey  string
	written []string
	// manifest is held until Commit (written last).
	manifest []byte
	done     bool
	log      *zap.Logger
}

// createObjSink records the owner and starts the pack name on b; a
// complete pack of that name there already is an error.
func createObjSink(ctx context.Context, b storage.Backend, name string, id owner.Identity, intent func(context.Context, string) error, log *zap.Logger) (*objSink, error) {
	s := &objSink{b: b, name: name, log: log,
		rec: packdir.Record{Owner: id, Partial: name, Final: name, Created: time.Now().UTC()}}
	s.recKey = RemotePartialsPrefix + name + "." + id.Tag() + ".json"
	if _, err := b.Stat(ctx, name+"/"+pack.ManifestFile); err == nil {
		return nil, fmt.Errorf("pack %s already exists in %s", name, b.Location())
	} else if !errors.Is(err, storage.ErrNotExist) {
		return nil, err
	}
	if intent != nil {
		if err := intent(ctx, s.Partial()); err != nil {
			return nil, fmt.Errorf("recording the partial pack before creating it failed, so nothing was created: %w", err)
		}
	}
	if err := s.writeRecord(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *objSink) writeRecord(ctx context.Context) error {
	data, err := json.MarshalIndent(s.rec, "", "  ")
	if err != nil {
		return err
	}
	if _, err := storage.WriteObject(ctx, s.b, s.recKey, bytes.NewReader(data), storage.CreateOptions{SizeHint: int64(len(data))}); err != nil {
		return fmt.Errorf("write the owner record %s: %w", s.recKey, err)
	}
	return nil
}

// Partial is where the pack is being written (the same place: it is
// complete once its manifest exists).
func (s *objSink) Partial() string { return s.location() }

// Final is the pack's location once committed (s3://bucket/prefix/<name>).
func (s *objSink) Final() string { return s.location() }

func (s *objSink) location() string { return strings.TrimSuffix(s.b.Location(), "/") + "/" + s.name }

func (s *objSink) RecordStopped(ctx context.Context, cs []packdir.Container) error {
	s.rec.Stopped = append(s.rec.Stopped, cs...)
	return s.writeRecord(ctx)
}

func (s *objSink) RecordRestarted(ctx context.Context) error {
	s.rec.Stopped = nil
	return s.writeRecord(ctx)
}

// WriteFile streams produce's output into the object <name>/<rel> and
// returns its size and sha256; manifest.json is kept for Commit.
func (s *objSink) WriteFile(ctx context.Context, rel string, wrap func(io.Writer) io.Writer, produce func(w io.Writer) error) (int64, string, error) {
	if err := s.b.Check(ctx); err != nil {
		return 0, "", err
	}
	if rel == pack.ManifestFile {
		var buf bytes.Buffer
		var w io.Writer = &buf
		if wrap != nil {
			w = wrap(w)
		}
		hw := fsutil.NewHashWriter(w)
		if err := produce(hw); err != nil {
			return 0, "", err
		}
		s.manifest = buf.Bytes()
		return hw.N(), hw.Sum(), nil
	}
	key := s.name + "/" + rel
	u, err := s.b.Create(ctx, key, storage.CreateOptions{})
	if err != nil {
		return 0, "", err
	}
	var w io.Writer = u
	if wrap != nil {
		w = wrap(w)
	}
	hw := fsutil.NewHashWriter(w)
	err = produce(hw)
	if err == nil {
		_, err = u.Commit(ctx)
	}
	if err != nil {
		_ = u.Abort(context.WithoutCancel(ctx))
		return 0, "", err
	}
	s.written = append(s.written, key)
	return hw.N(), hw.Sum(), nil
}

// Commit checks the target, calls before, writes manifest.json (exclusive:
// a pack of that name written meanwhile is an error) and removes the
// owner record.
func (s *objSink) Commit(ctx context.Context, before func(ctx context.Context) error) error {
	if s.manifest == nil {
		return errors.New("commit of a pack without its manifest (a bug)")
	}
	if err := s.b.Check(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if before != nil {
		if err := before(ctx); err != nil {
			return err
		}
	}
	key := s.name + "/" + pack.ManifestFile
	if _, err := storage.WriteObject(ctx, s.b, key, bytes.NewReader(s.manifest), storage.CreateOptions{Exclusive: true, SizeHint: int64(len(s.manifest))}); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	s.done = true
	if err := s.b.Remove(context.WithoutCancel(ctx), s.recKey); err != nil {
		s.log.Warn("the owner record of a complete pack was not removed (the next backup's recovery does)", zap.String("record", s.recKey), zap.Error(err))
	}
	return nil
}

// Abort removes the objects written and the owner record. After Commit it
// does nothing.
func (s *objSink) Abort() error {
	if s.done {
		return nil
	}
	s.done = true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	for _, k := range s.written {
		if err := s.b.Remove(ctx, k); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.b.Remove(ctx, s.recKey); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove the partial pack %s: %w", s.location(), errors.Join(errs...))
	}
	return nil
}

// Close does nothing: the backend is the run's.
func (s *objSink) Close() error { return nil }

// recoverRemote removes what dead writers left in object storage: for each
// owner record of a dead owner (judged on this host: a writer on another
// host is never judged), the containers it stopped are started again, the
// objects of its pack removed (unless its manifest exists: then only the
// record was left), its record removed, and its uploads in progress aborted.
func (r *runner) recoverRemote(ctx context.Context, b storage.Backend) {
	if r.spec.NoRecover {
		return
	}
	host, _ := os.Hostname()
	var recs []struct {
		key string
		rec packdir.Record
	}
	err := b.List(ctx, RemotePartialsPrefix, func(in storage.Info) error {
		data, err := storage.ReadObject(ctx, b, in.Key, 1<<20)
		if err != nil {
			return nil
		}
		var rec packdir.Record
		if json.Unmarshal(data, &rec) == nil && rec.Final != "" && storage.ValidKey(rec.Final) && !strings.Contains(rec.Final, "/") {
			recs = append(recs, struct {
				key string
				rec packdir.Record
			}{in.Key, rec})
		}
		return nil
	})
	if err != nil {
		r.log.Warn("recovery of dead backups' debris in object storage incomplete", zap.Error(err))
		return
	}
	dead := map[string]bool{}
	o := RecoverOptions{Logger: r.log}
	if e, ok := r.spec.Engine.(RecoverEngine); ok {
		o.Engine = e
	}
	for _, x := range recs {
		if !x.rec.Owner.Dead(host) {
			continue
		}
		dead[x.rec.Owner.Token] = true
		if len(x.rec.Stopped) > 0 && o.Engine != nil {
			var out Recovered
			if err := restartStopped(ctx, o, x.rec, &out); err != nil {
				r.log.Warn("recovery: containers a dead backup stopped", zap.Error(err))
				continue
			}
		}
		if _, err := b.Stat(ctx, x.rec.Final+"/"+pack.ManifestFile); errors.Is(err, storage.ErrNotExist) {
			var keys []string
			_ = b.List(ctx, x.rec.Final+"/", func(in storage.Info) error { keys = append(keys, in.Key); return nil })
			for _, k := range keys {
				_ = b.Remove(ctx, k)
			}
			r.log.Warn("recovery: partial pack of a dead writer removed", zap.String("pack", x.rec.Final), zap.Int("objects", len(keys)))
		} else if err != nil {
			continue
		}
		_ = b.Remove(ctx, x.key)
	}
	if len(dead) > 0 {
		if n, err := b.AbortStale(ctx, func(tok string) bool { return dead[tok] }); n > 0 || err != nil {
			r.log.Warn("recovery: uploads of dead writers aborted", zap.Int("uploads", n), zap.Error(err))
		}
	}
}
