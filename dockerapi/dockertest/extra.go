package dockertest

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// ForceRemoveContainer removes a container (running or not) with its
// anonymous volumes; a container already gone is not an error.
func ForceRemoveContainer(cli *Client, id string) error {
	ctx, cancel := opCtx()
	defer cancel()
	err := cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !client.IsErrNotFound(err) {
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
