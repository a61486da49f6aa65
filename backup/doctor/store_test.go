package doctor_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/backuptest"
	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/internal/owner"
	"github.com/dockpack/dockpack/mountcheck"
)

// drStoreTarget is a target with a pack store holding two store packs.
func drStoreTarget(t *testing.T) string {
	t.Helper()
	eng := backuptest.NewEngine()
	spec := backuptest.MustSpec(t, eng)
	spec.Format = backup.FormatStore
	for i := 0; i < 2; i++ {
		if _, err := backup.Run(context.Background(), spec, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // another pack name
	}
	return spec.Target
}

func drStoreOnly(t *testing.T, target string) check.Check {
	t.Helper()
	rep := MustDoctor(t, doctor.Options{Target: target, StagingDir: t.TempDir(), Policy: mountcheck.Policy{AnyFSType: true, AllowRootFS: true},
		RootWarnFree: 1, RootFailFree: 1})
	return drCheck(t, rep, doctor.CheckStore)
}

func drBundles(t *testing.T, target string) []string {
	t.Helper()
	b, _ := filepath.Glob(filepath.Join(target, filepath.FromSlash(store.DataPrefix), "*", "*"))
	if len(b) == 0 {
		t.Fatal("no bundle in the store")
	}
	return b
}

// The store check: the config, the leases, the index against the bundles
// present and the store packs' chunk lists; skipped without a store.
func TestDoctorStore(t *testing.T) {
	classic := filepath.Join(t.TempDir(), "packs")
	backuptest.MustManifestOnlyPack(t, classic, time.Now())
	if c := drStoreOnly(t, classic); c.Status != check.Skip {
		t.Fatalf("a target without a store: %+v", c)
	}
	target := drStoreTarget(t)
	c := drStoreOnly(t, target)
	if c.Status != check.OK || drEv(c, "store_packs") != "2" || !strings.Contains(drEv(c, "store_index"), "0 bundles no index lists") {
		t.Fatalf("healthy store: %+v", c)
	}

	// A dead owner's lease is stale: a warning.
	dead := owner.Identity{Token: owner.NewToken(), Host: "elsewhere", PID: 1}
	lease := `{"mode":"shared","owner":{"token":"` + dead.Token + `","host":"elsewhere","pid":1},"purpose":"backup of demo","expires_at":"2000-01-01T00:00:00Z"}`
	lp := filepath.Join(target, filepath.FromSlash(store.LocksPrefix), "shared-"+dead.Token+".json")
	if err := os.WriteFile(lp, []byte(lease), 0o600); err != nil {
		t.Fatal(err)
	}
	if c := drStoreOnly(t, target); c.Status != check.Warn || c.Code != "store_stale_lease" {
		t.Fatalf("a stale lease: %+v", c)
	}
	os.Remove(lp)

	// A bundle no index lists (an interrupted backup's): a warning.
	bundles := drBundles(t, target)
	data, _ := os.ReadFile(bundles[0])
	stray := filepath.Join(filepath.Dir(bundles[0]), strings.Repeat("e", 64))
	os.WriteFile(stray, data, 0o600)
	if c := drStoreOnly(t, target); c.Status != check.Warn || c.Code != "store_unindexed" {
		t.Fatalf("an unindexed bundle: %+v", c)
	}
	os.Remove(stray)

	// A missing bundle: a failure naming it, and the packs missing data.
	os.Remove(bundles[0])
	c = drStoreOnly(t, target)
	if c.Status != check.Fail || c.Code != "store_damaged" || !strings.Contains(drEv(c, "store_damaged"), filepath.Base(bundles[0])) {
		t.Fatalf("a missing bundle: %+v", c)
	}
}

// A store made by a newer dockpack fails the check with newer_format.
func TestDoctorStoreNewer(t *testing.T) {
	target := drStoreTarget(t)
	cfg := filepath.Join(target, filepath.FromSlash(store.ConfigKey))
	data, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(data), `"format": 2`, `"format": 3`, 1)), 0o600)
	if c := drStoreOnly(t, target); c.Status != check.Fail || c.Code != "newer_format" {
		t.Fatalf("a newer store: %+v", c)
	}
}

func drEv(c check.Check, key string) string {
	for _, e := range c.Evidence {
		if e.Key == key {
			return e.Value
		}
	}
	return ""
}
