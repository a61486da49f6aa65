package bounded_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/internal/bounded"
)

func TestCallReturnsTheResult(t *testing.T) {
	v, err := bounded.Call(t.Context(), time.Second, "adding", func() (int, error) { return 42, nil })
	if v != 42 || err != nil {
		t.Fatalf("got %d %v", v, err)
	}
	boom := errors.New("boom")
	if _, err := bounded.Call(t.Context(), 0, "failing", func() (int, error) { return 0, boom }); err != boom {
		t.Fatalf("err %v, want the call's own error", err)
	}
}

func TestCallGivesUpAfterTheBound(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	t0 := time.Now()
	_, err := bounded.Call(t.Context(), 20*time.Millisecond, "listing /mnt/replica", func() ([]string, error) {
		<-release // a call stuck in the kernel
		return nil, nil
	})
	var te *bounded.TimeoutError
	if !errors.As(err, &te) || te.After != 20*time.Millisecond || !strings.Contains(err.Error(), "listing /mnt/replica did not finish within 20ms") {
		t.Fatalf("err %v, want a TimeoutError naming the call", err)
	}
	if time.Since(t0) > 5*time.Second {
		t.Fatal("Call waited for the stuck call")
	}
}

func TestCallEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	release := make(chan struct{})
	defer close(release)
	err := bounded.Do(ctx, 0, "removing /mnt/replica/x", func() error { <-release; return nil })
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "removing /mnt/replica/x: ") {
		t.Fatalf("err %v, want context.Canceled naming the call", err)
	}
}

func TestTimeoutIsADeadline(t *testing.T) {
	err := error(&bounded.TimeoutError{What: "reading /db", After: time.Second})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("a TimeoutError does not match context.DeadlineExceeded")
	}
}
