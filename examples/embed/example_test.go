package main

import (
	"fmt"
	"net/http/httptest"

	"github.com/dockpack/dockpack/backup/httpapi"
)

// The application mounts dockpack's API under its own prefix, behind its
// own authentication (here a shared key): no key, no backups.
func Example() {
	api, _ := httpapi.New(stubBackend{}, httpapi.Options{Auth: adminOnly("the-key")})
	app := newMux(api)
	for _, key := range []string{"", "the-key"} {
		req := httptest.NewRequest("GET", apiPrefix+"/v1/jobs/7", nil)
		req.Header.Set("X-Admin-Key", key)
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// 401
	// 200
}
