package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDBDumpLoadRoundTrip(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	for i := 0; i < 5; i++ {
		if err := dbAppend(src, time.Unix(1700000000+int64(i), 0)); err != nil {
			t.Fatal(err)
		}
	}
	var dump bytes.Buffer
	if err := dbDump([]string{src}, &dump); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dump.String(), "testapp-db 1\nrows 5\n1 ") {
		t.Fatalf("dump:\n%s", dump.String())
	}
	if err := dbLoad([]string{dst}, bytes.NewReader(dump.Bytes())); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := dbDump([]string{dst}, &again); err != nil {
		t.Fatal(err)
	}
	if again.String() != dump.String() {
		t.Fatalf("loaded state differs:\n%s\nwant\n%s", again.String(), dump.String())
	}
	// A truncated dump is refused, and the state stays.
	if err := dbLoad([]string{dst}, strings.NewReader(dump.String()[:dump.Len()-20])); err == nil {
		t.Fatal("a truncated dump was loaded")
	}
	// A row the meta does not count is a torn state.
	f, _ := os.OpenFile(filepath.Join(src, "rows.txt"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("6 torn\n")
	f.Close()
	if err := dbCheck(context.Background(), []string{src}); err == nil || !strings.Contains(err.Error(), "torn") {
		t.Fatalf("check of a torn state: %v", err)
	}
}

func TestDBPauseStopsWrites(t *testing.T) {
	dir := t.TempDir()
	if err := dbPause([]string{dir}, true); err != nil {
		t.Fatal(err)
	}
	if err := dbAppend(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	if s, err := readState(dir); err != nil || len(s.rows) != 0 {
		t.Fatalf("paused database wrote: %v %v", s.rows, err)
	}
	if err := dbPause([]string{dir}, false); err != nil {
		t.Fatal(err)
	}
	if err := dbAppend(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	if s, _ := readState(dir); len(s.rows) != 1 {
		t.Fatalf("rows after resume: %v", s.rows)
	}
}

func TestExitCodeOfFail(t *testing.T) {
	err := failWith(context.Background(), []string{"7", "boom"})
	if exitCode(err) != 7 || err.Error() != "boom" {
		t.Fatalf("fail: %v code %d", err, exitCode(err))
	}
}
