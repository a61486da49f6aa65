// Package dockertest holds fixtures for tests that run against a real Docker
// Engine: a raw SDK client, and a sweep that removes everything tests created.
// Everything a fixture creates carries the label dockpack.test=1. It lives
// under dockerapi because only dockerapi may import the Docker SDK.
package dockertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// Label is put on every object a test creates; Sweep removes what carries it.
const (
	Label      = "dockpack.test"
	LabelValue = "1"
	// HelperLabel marks dockpack's own helper containers and images.
	HelperLabel = "dockpack.helper"
)

// OwnerLabel records which test process created an object ("<pid>:<start
// time>"), so a sweep never removes what a concurrently running test
// process still uses.
const OwnerLabel = "dockpack.test.owner"

// Owner is this process's OwnerLabel value.
var Owner = processID(os.Getpid())

// processID is "<pid>:<start time in clock ticks>" or "" when unknown.
func processID(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return fmt.Sprintf("%d:%s", pid, f[19])
}

// ownerGone reports whether the process named by an OwnerLabel value has
// ended (or the value is missing/unreadable, i.e. an old-style object).
func ownerGone(v string) bool {
	if v == "" || v == Owner {
		return true
	}
	pid, err := strconv.Atoi(strings.SplitN(v, ":", 2)[0])
	if err != nil {
		return true
	}
	return processID(pid) != v
}

// Labels returns a fresh label map with the test label and this process's
// owner label set, plus extra pairs.
func Labels(kv ...string) map[string]string {
	m := map[string]string{Label: LabelValue, OwnerLabel: Owner}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// NewClient returns an SDK client configured from the environment with API
// version negotiation.
func NewClient() (*client.Client, error) {
	return client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
}

// Sweep removes every container, volume, network and image labelled
// dockpack.test=1 that this process created or whose creating process has
// ended, and dockpack helper containers/images older than ten minutes; it
// is called by TestMain before and after the tests so a crashed run leaves
// nothing behind, while a test process running at the same time keeps its
// objects.
func Sweep(ctx context.Context, cli *client.Client) error {
	var errs []error
	for _, lbl := range []string{Label + "=" + LabelValue, HelperLabel + "=1"} {
		f := filters.NewArgs(filters.Arg("label", lbl))
		helper := lbl != Label+"="+LabelValue
		keep := func(labels map[string]string, created int64) bool {
			if helper {
				return time.Since(time.Unix(created, 0)) < 10*time.Minute
			}
			return !ownerGone(labels[OwnerLabel])
		}
		cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			return fmt.Errorf("list containers: %w", err)
		}
		for _, c := range cs {
			if keep(c.Labels, c.Created) {
				continue
			}
			if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
		vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
		if err != nil {
			return fmt.Errorf("list volumes: %w", err)
		}
		for _, v := range vs.Volumes {
			if keep(v.Labels, volumeCreated(v.CreatedAt)) {
				continue
			}
			if err := cli.VolumeRemove(ctx, v.Name, true); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
		ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
		if err == nil {
			for _, n := range ns {
				if keep(n.Labels, n.Created.Unix()) {
					continue
				}
				_ = cli.NetworkRemove(ctx, n.ID)
			}
		}
		ims, err := cli.ImageList(ctx, image.ListOptions{All: true, Filters: f})
		if err != nil {
			return fmt.Errorf("list images: %w", err)
		}
		for _, im := range ims {
			if keep(im.Labels, im.Created) {
				continue
			}
			if _, err := cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func volumeCreated(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0
	}
	return t.Unix()
}
