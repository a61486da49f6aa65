package dockertest

import (
	"archive/tar"
	"context"
	"io"
	"math/rand"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// ForceRemoveContainer removes a container (running or not) with its
// anonymous volumes; a container already gone is not an error.
func ForceRemoveContainer(cli *Client, id string) error {
	ctx, cancel := opCtx()
	defer cancel()
	err := cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// RunToCompletion starts a created container and waits (polling, with a
// deadline) until it has exited with status 0.
func RunToCompletion(t testing.TB, cli *Client, id string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := opCtx()
	defer cancel()
	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		t.Fatalf("start container %s: %v", id, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		ci, err := cli.ContainerInspect(ctx, id)
		if err != nil {
			t.Fatalf("inspect container %s: %v", id, err)
		}
		if ci.State != nil && !ci.State.Running && ci.State.Status == "exited" {
			if ci.State.ExitCode != 0 {
				t.Fatalf("container %s exited with status %d", id, ci.State.ExitCode)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s did not finish within %v", id, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// RandomTar streams a tar holding one regular file of size bytes of
// seeded pseudo-random (incompressible) content, without holding it in memory.
func RandomTar(name string, size, seed int64) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(name, "/"), Typeflag: tar.TypeReg, Mode: 0o644, Size: size,
			ModTime: time.Unix(1700000000, 0)})
		if err == nil {
			_, err = io.CopyN(tw, rand.New(rand.NewSource(seed)), size)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// MustDerivedImageRandom commits an image from baseRef plus one file at path
// of size random bytes (streamed, never in memory), tagged ref and labelled;
// removed in t.Cleanup. Returns the image ID.
func MustDerivedImageRandom(t testing.TB, cli *Client, baseRef, ref, path string, size, seed int64) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	created, err := cli.ContainerCreate(ctx, &container.Config{Image: baseRef, Labels: Labels()}, nil, nil, nil, "")
	if err != nil {
		t.Fatalf("create container from %s: %v", baseRef, err)
	}
	defer func() {
		_ = cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}()
	body := RandomTar(path, size, seed)
	defer body.Close()
	if err := cli.CopyToContainer(ctx, created.ID, "/", body, container.CopyToContainerOptions{}); err != nil {
		t.Fatalf("copy %d random bytes into a container from %s: %v", size, baseRef, err)
	}
	res, err := cli.ContainerCommit(ctx, created.ID, container.CommitOptions{Reference: ref,
		Changes: []string{"LABEL " + Label + "=" + LabelValue, "LABEL " + OwnerLabel + "=" + Owner}})
	if err != nil {
		t.Fatalf("commit %s: %v", ref, err)
	}
	t.Cleanup(func() { removeImage(t, cli, res.ID) })
	return res.ID
}

// FillVolumeRandom writes one file of size random bytes at path inside the
// volume, through a created-never-started container from image.
func FillVolumeRandom(t testing.TB, cli *Client, image, volume, path string, size, seed int64) {
	t.Helper()
	id := MustContainer(t, cli, ContainerSpec{Image: image, Mounts: []Mount{{Type: "volume", Source: volume, Target: "/v"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	body := RandomTar(path, size, seed)
	defer body.Close()
	if err := cli.CopyToContainer(ctx, id, "/v", body, container.CopyToContainerOptions{}); err != nil {
		t.Fatalf("fill volume %s: %v", volume, err)
	}
	if err := ForceRemoveContainer(cli, id); err != nil {
		t.Fatal(err)
	}
}
