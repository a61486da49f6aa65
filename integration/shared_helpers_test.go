//go:build integration

package integration_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/mountcheck"
)

// Helpers shared by every integration test file.

// engineTimeout bounds each engine call a test makes through MustCtx.
const engineTimeout = 3 * time.Minute

// tmpfsPolicy accepts a tmpfs target (the kernel here has no CIFS).
var tmpfsPolicy = mountcheck.Policy{FSTypes: []string{"tmpfs"}, ProbeTimeout: 10 * time.Second}

// MustCtx is a per-call context for engine calls, canceled at cleanup.
func MustCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	t.Cleanup(cancel)
	return ctx
}

var sharedEngine struct {
	once sync.Once
	c    *dockerapi.Client
	err  error
}

// MustEngine is dockpack's engine client for the environment's engine,
// shared by the whole test process.
func MustEngine(t testing.TB) *dockerapi.Client {
	t.Helper()
	sharedEngine.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sharedEngine.c, sharedEngine.err = dockerapi.New(ctx, dockerapi.Options{RestartTimeout: 30 * time.Second, CleanupTimeout: 30 * time.Second})
	})
	if sharedEngine.err != nil {
		t.Fatal(sharedEngine.err)
	}
	return sharedEngine.c
}

// MustEngineAt is an engine client for host (e.g. a FaultProxy), closed at cleanup.
func MustEngineAt(t testing.TB, host string) *dockerapi.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := dockerapi.New(ctx, dockerapi.Options{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// MustSmallDB creates a WAL SQLite database with a few rows in dir (a
// temp dir when dir is "").
func MustSmallDB(t testing.TB, dir string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, "auth.db")
	conn, err := sqlite.OpenConn(p, sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := sqlitex.ExecuteScript(conn, `CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT);
		INSERT INTO users(name) VALUES ('ada'), ('grace'), ('linus');`, nil); err != nil {
		t.Fatal(err)
	}
	return p
}

// TargetDirs lists the packs and partial packs in target. A partial pack's
// owner record (<partial>.owner) counts with its directory, and alone when
// its directory is gone (debris too).
func TargetDirs(t testing.TB, target string) (packs, partials []string) {
	t.Helper()
	ents, err := os.ReadDir(target)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	for _, e := range ents {
		n := e.Name()
		switch {
		case strings.HasPrefix(n, pack.NamePrefix):
			packs = append(packs, n)
		case strings.HasPrefix(n, pack.PartialPrefix) && strings.HasSuffix(n, ".owner"):
			if !names[strings.TrimSuffix(n, ".owner")] {
				partials = append(partials, n)
			}
		case strings.HasPrefix(n, pack.PartialPrefix):
			partials = append(partials, n)
		}
	}
	return packs, partials
}
