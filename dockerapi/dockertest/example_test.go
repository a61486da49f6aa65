package dockertest_test

import (
	"fmt"

	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// Every object a test creates carries dockpack.test=1, so TestMain's Sweep
// finds leftovers of a crashed run.
func ExampleLabels() {
	l := dockertest.Labels("app", "web")
	fmt.Println(l["dockpack.test"], l["app"])
	// Output: 1 web
}

func ExampleComposeLabels() {
	l := dockertest.ComposeLabels("shop", "db", 1)
	fmt.Println(l["com.docker.compose.project"], l["com.docker.compose.service"], l["com.docker.compose.project.config_files"])
	// Output: shop db /srv/shop/docker-compose.yml
}
