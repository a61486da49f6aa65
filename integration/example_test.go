//go:build integration

package integration_test

import (
	"context"
	"fmt"
	"time"

	"github.com/dockpack/dockpack/dockerapi"
)

// The integration tests talk to the machine's real Docker Engine through
// dockpack's own client (and build every image they need themselves).
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := dockerapi.New(ctx, dockerapi.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	info, err := c.Info(ctx)
	fmt.Println(err == nil && info.Version != "" && info.APIVersion != "")
	// Output: true
}
