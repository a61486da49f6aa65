//go:build integration

package integration_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
	"github.com/dockpack/dockpack/internal/owner"
)

// A cancel that lands while the engine creates a helper container (or
// imports the helper image) never leaks it: the engine's answer is awaited
// and what it created is removed by ID. Repeated at random instants.
func TestDockerHelperCreateCanceledLeavesNothing(t *testing.T) {
	cli := dockertest.MustClient(t)
	ref := daImageRef("app")
	imgID := dockertest.MustTestAppImage(t, cli, ref)
	vol := dockertest.Unique("dockpack-test-cancel")
	dockertest.MustVolume(t, cli, vol, nil)
	st := dockerapi.Stack{Project: "none", Images: []dockerapi.Image{{ID: imgID, RepoTags: []string{ref}}}}
	id := owner.Self("")
	var ctx context.Context
	var cancel context.CancelFunc
	_, cancel = context.WithCancel(context.Background())
	c, err := dockerapi.New(context.Background(), dockerapi.Options{Owner: id, CleanupTimeout: 30 * time.Second,
		BeforeCreate: func(context.Context, string, string) {
			d := time.Duration(rand.IntN(120)) * time.Millisecond
			go func() { time.Sleep(d); cancel() }()
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The engine's own record: helper containers created for this owner.
	evctx, evcancel := context.WithCancel(context.Background())
	defer evcancel()
	evs, _ := cli.Events(evctx, events.ListOptions{Filters: filters.NewArgs(filters.Arg("type", "container"),
		filters.Arg("event", "create"), filters.Arg("label", owner.LabelToken+"="+id.Token))})
	var created atomic.Int64
	go func() {
		for range evs {
			created.Add(1)
		}
	}()
	canceled, done := 0, 0
	for i := range 24 {
		ctx, cancel = context.WithCancel(context.Background())
		var err error
		if i%4 == 3 { // the empty helper image, then a container from it
			_, err = c.VolumeEmpty(ctx, vol, "")
		} else {
			_, err = c.ExportVolume(ctx, st, vol, &daCounter{})
		}
		cancel()
		switch {
		case err == nil:
			done++
		case errors.Is(err, context.Canceled):
			canceled++
		default:
			t.Fatalf("round %d: %v", i, err)
		}
		if n, m := dockertest.CountLabelled(t, cli, owner.LabelToken+"="+id.Token); n+m != 0 {
			t.Fatalf("round %d (err %v): %d helper container(s) and %d image(s) left", i, err, n, m)
		}
	}
	time.Sleep(200 * time.Millisecond) // let the last events arrive
	t.Logf("24 rounds: %d canceled, %d finished before the cancel; the engine created %d helper containers; 0 helpers left",
		canceled, done, created.Load())
	if int(created.Load()) <= done {
		t.Fatal("no canceled round reached the engine's create: the seam does not test the instant it should")
	}
}

// RemoveStaleHelpers removes the helpers of a dead owner (a crash), and
// leaves a live owner's and a recent unattributed one alone.
func TestDockerRemoveStaleHelpers(t *testing.T) {
	cli := dockertest.MustClient(t)
	ref := daImageRef("app")
	dockertest.MustTestAppImage(t, cli, ref)
	self := owner.Self("")
	dead := owner.Identity{Token: owner.NewToken(), Host: self.Host, PID: 1<<22 + rand.IntN(1000), ProcStart: self.ProcStart}
	alive := owner.Self("")
	mk := func(labels map[string]string) string {
		labels[dockerapi.LabelHelper] = "1"
		return dockertest.MustContainer(t, cli, dockertest.ContainerSpec{Name: dockertest.Unique("dockpack-test-helper"), Image: ref, Labels: labels})
	}
	deadID := mk(dead.Labels())
	aliveID := mk(alive.Labels())
	plainID := mk(map[string]string{})
	c := MustEngine(t)
	removed, err := c.RemoveStaleHelpers(MustCtx(t), func(id owner.Identity) bool { return id.Dead(self.Host) })
	if err != nil {
		t.Fatal(err)
	}
	ctx := MustCtx(t)
	exists := func(id string) bool { _, err := cli.ContainerInspect(ctx, id); return err == nil }
	if exists(deadID) || !exists(aliveID) || !exists(plainID) {
		t.Fatalf("after removal: dead %v alive %v unattributed %v (removed %v)", exists(deadID), exists(aliveID), exists(plainID), removed)
	}
	if !slices.ContainsFunc(removed, func(s string) bool { return s != "" }) {
		t.Fatalf("removed %v", removed)
	}
}
