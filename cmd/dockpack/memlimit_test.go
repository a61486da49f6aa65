package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	for v, want := range map[string]int64{"": defaultMemoryLimit(), "off": math.MaxInt64, "0": math.MaxInt64, "256MiB": 256 << 20,
		"1GiB": 1 << 30, "134217728": 128 << 20} {
		if got, err := parseMemoryLimit(v); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", v, got, err, want)
		}
	}
	for _, v := range []string{"lots", "16MiB", "-1"} {
		if _, err := parseMemoryLimit(v); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
	if d := defaultMemoryLimit(); d < 100<<20 || d > 140<<20 || runtime.GOMAXPROCS(0) <= 2 && d != 100<<20 {
		t.Errorf("default %d on %d CPUs", d, runtime.GOMAXPROCS(0))
	}
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	env := map[string]string{envMemoryLimit: "200MiB"}
	if got := applyMemoryLimit(func(k string) string { return env[k] }, nil); got != 200<<20 || debug.SetMemoryLimit(-1) != 200<<20 {
		t.Errorf("applied %d, runtime %d", got, debug.SetMemoryLimit(-1))
	}
	env["GOMEMLIMIT"] = "300MiB"
	if got := applyMemoryLimit(func(k string) string { return env[k] }, nil); got != -1 || debug.SetMemoryLimit(-1) != 200<<20 {
		t.Errorf("GOMEMLIMIT set: applied %d, runtime %d (want the runtime's left alone)", got, debug.SetMemoryLimit(-1))
	}
	delete(env, "GOMEMLIMIT")
	env[envMemoryLimit] = "lots"
	if got := applyMemoryLimit(func(k string) string { return env[k] }, nil); got != defaultMemoryLimit() {
		t.Errorf("a bad value: applied %d, want the default", got)
	}
}
