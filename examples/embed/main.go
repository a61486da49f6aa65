// Command embed is an admin backend that mounts dockpack's HTTP API
// (backup/httpapi) under its own prefix, behind its own authentication,
// next to its own routes — the way an existing admin application such as
// RagFlowAuth would embed backups instead of running a separate daemon.
//
//	go run ./examples/embed -target /mnt/replica/backups -project ragflow -fstype cifs
//	curl -H 'X-Admin-Key: <key>' http://127.0.0.1:8080/admin/backup/v1/jobs
//	curl -H 'X-Admin-Key: <key>' -X POST http://127.0.0.1:8080/admin/backup/api/admin/data-security/backup/run -d '{}'
//
// The key is $EMBED_ADMIN_KEY, or generated and printed at start. In a real
// application the middleware would check the application's session instead.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/dockpack/dockpack/backup/settings"

	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/mountcheck"
)

// apiPrefix is where the application mounts dockpack's routes.
const apiPrefix = "/admin/backup"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:8080", "address of the admin backend")
	stateDir := flag.String("state-dir", "./embed-state", "dockpack's state directory (state.db)")
	target := flag.String("target", "", "directory on the mounted share that receives packs")
	project := flag.String("project", "", "compose project to back up")
	fstype := flag.String("fstype", "cifs,smb3", "filesystem types the target may be on")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log, err := zap.NewProduction()
	if err != nil {
		return err
	}
	defer log.Sync()

	key := os.Getenv("EMBED_ADMIN_KEY")
	if key == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		key = hex.EncodeToString(b)
		fmt.Printf("admin key (send as X-Admin-Key): %s\n", key)
	}

	eng, err := dockerapi.New(ctx, dockerapi.Options{Logger: log})
	if err != nil {
		return err
	}
	defer eng.Close()
	settings := settings.Default()
	settings.TargetLocalDir = *target
	settings.RagflowProjectName = *project
	mgr, err := jobs.NewManager(context.WithoutCancel(ctx), jobs.Config{
		StateDir: *stateDir,
		Engine:   eng,
		Settings: settings,
		// The application decides where packs go; its UI may not move them.
		Pinned: []string{"target_local_dir"},
		Policy: mountcheck.Policy{FSTypes: strings.Split(*fstype, ",")},
		Logger: log,
	})
	if err != nil {
		return err
	}
	api, err := httpapi.New(mgr, httpapi.Options{
		Auth:   adminOnly(key), // the application's auth replaces dockpack's bearer token
		Logger: log,
	})
	if err != nil {
		_ = mgr.Close(ctx)
		return err
	}
	srv := &http.Server{Addr: *listen, Handler: newMux(api), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("admin backend listening", zap.String("addr", *listen), zap.String("dockpack_api", apiPrefix+"/v1/"))
	select {
	case err := <-errc:
		_ = mgr.Close(context.WithoutCancel(ctx))
		return err
	case <-ctx.Done():
	}
	shCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	go func() { _ = srv.Shutdown(shCtx) }()
	return mgr.Close(shCtx) // cancels a running backup and cleans up
}

// newMux is the application's router: its own routes, and dockpack's API
// under apiPrefix (the handler sees paths without the prefix).
func newMux(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "admin backend: dockpack's API is under "+apiPrefix+"/v1/ and "+apiPrefix+httpapi.DefaultCompatPrefix+"/")
	})
	mux.Handle(apiPrefix+"/", http.StripPrefix(apiPrefix, api))
	return mux
}

// adminOnly is the application's own authentication: here a shared key in
// X-Admin-Key, compared in constant time.
func adminOnly(key string) func(http.Handler) http.Handler {
	want := sha256.Sum256([]byte(key))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := sha256.Sum256([]byte(r.Header.Get("X-Admin-Key")))
			if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprintln(w, `{"detail":"admin login required"}`)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
