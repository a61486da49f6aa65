package dockerapi_test

import (
	"os"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/dockerapi"
)

func TestExecTailKeepsTheLastBytes(t *testing.T) {
	w := dockerapi.NewTailWriter(8)
	for _, s := range []string{"hello ", "world, ", "this is the end"} {
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.Tail(); got != " the end" {
		t.Fatalf("tail %q", got)
	}
	// A rune cut at the start of the tail is dropped, never half shown.
	w = dockerapi.NewTailWriter(4)
	w.Write([]byte("ab界界"))
	if got := w.Tail(); got != "界" {
		t.Fatalf("tail %q", got)
	}
}

func TestKillProcessTreeRefusesAProcessOutsideTheContainer(t *testing.T) {
	// This test process is in no container: the cgroup check refuses it.
	n, err := dockerapi.KillProcessTree(os.Getpid(), strings.Repeat("ab", 32))
	if err == nil || n != 0 || !strings.Contains(err.Error(), "cgroup") {
		t.Fatalf("killed %d: %v", n, err)
	}
	if _, err := dockerapi.KillProcessTree(0, "x"); err == nil {
		t.Fatal("pid 0 accepted")
	}
}

func TestQuoteCmd(t *testing.T) {
	if got := dockerapi.QuoteCmd([]string{"sh", "-c", "echo 'a b'"}); got != `sh -c 'echo '\''a b'\'''` {
		t.Fatalf("%s", got)
	}
}
