package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The production binary does not link the test seams: only a build with
// -tags dockpacktest depends on package testseams.
func TestTestSeamsOnlyUnderBuildTag(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	const seams = "github.com/dockpack/dockpack/cmd/dockpack/testseams"
	for _, tc := range []struct {
		tags string
		want bool
	}{{"", false}, {"timetzdata", false}, {"dockpacktest", true}} {
		out, err := exec.Command(goTool, "list", "-deps", "-tags", tc.tags, ".").CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps -tags %q: %v\n%s", tc.tags, err, out)
		}
		if got := strings.Contains("\n"+string(out), "\n"+seams+"\n"); got != tc.want {
			t.Errorf("tags %q: the binary links %s: %v, want %v", tc.tags, seams, got, tc.want)
		}
	}
}
