package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func mustObservedLogger() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	return zap.New(core), logs
}

func TestResolveTokenGeneratesOnceAndNeverLogsIt(t *testing.T) {
	dir := t.TempDir()
	lg, logs := mustObservedLogger()
	cfg := defaultServeConfig()
	cfg.StateDir = dir
	tok, err := resolveToken(context.Background(), lg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "token")
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	if len(tok) != 64 {
		t.Errorf("generated token %d characters", len(tok))
	}
	// Restart: the same token.
	tok2, err := resolveToken(context.Background(), lg, cfg)
	if err != nil || tok2 != tok {
		t.Errorf("second start: %v, token changed=%v", err, tok2 != tok)
	}
	sawPath := false
	for _, e := range logs.All() {
		if strings.Contains(e.Message, tok) {
			t.Errorf("token in log message %q", e.Message)
		}
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, tok) {
				t.Errorf("token in log field %s", k)
			}
			if k == "token_file" && v == p {
				sawPath = true
			}
		}
	}
	if !sawPath {
		t.Error("the token file's path was not logged")
	}
}

func TestResolveTokenSources(t *testing.T) {
	lg := zap.NewNop()
	dir := t.TempDir()
	cfg := defaultServeConfig()
	cfg.StateDir = dir
	cfg.Token = " from-the-environment-0123 "
	if tok, err := resolveToken(context.Background(), lg, cfg); err != nil || tok != "from-the-environment-0123" {
		t.Errorf("env token: %q %v", tok, err)
	}
	cfg.Token = "short"
	if _, err := resolveToken(context.Background(), lg, cfg); err == nil {
		t.Error("short token accepted")
	}
	cfg.Token = ""
	tf := filepath.Join(dir, "my-token")
	os.WriteFile(tf, []byte("from-a-file-0123456789\n"), 0o644)
	cfg.TokenFile = tf
	lg2, logs := mustObservedLogger()
	if tok, err := resolveToken(context.Background(), lg2, cfg); err != nil || tok != "from-a-file-0123456789" {
		t.Errorf("token file: %q %v", tok, err)
	}
	if logs.FilterMessageSnippet("readable by other users").Len() != 1 {
		t.Error("no warning about a world-readable token file")
	}
	cfg.TokenFile = filepath.Join(dir, "missing")
	if _, err := resolveToken(context.Background(), lg, cfg); err == nil {
		t.Error("missing token file accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "token")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a token was generated although one was configured")
	}
}

func TestListenUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "d.sock")
	ln, err := listen("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(sock); fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v", fi.Mode().Perm())
	}
	// A live socket is not taken over.
	if _, err := listen("unix://" + sock); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("second listen on a live socket: %v", err)
	}
	// A stale one (left by a killed daemon) is replaced.
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	ln.Close()
	ln2, err := listen("unix://" + sock)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln2.Close()
	// A regular file is never removed.
	f := filepath.Join(dir, "file")
	os.WriteFile(f, []byte("x"), 0o644)
	if _, err := listen("unix://" + f); err == nil {
		t.Error("listen over a regular file")
	}
	if _, err := os.Stat(f); err != nil {
		t.Error("the regular file was removed")
	}
	// TCP: port 0 works.
	ln3, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln3.Close()
}
