// Package integration holds dockpack's end-to-end tests and benchmarks. They
// run against the real Docker Engine, real SQLite files and real tmpfs mounts
// (the tests run as root), and are built only with the build tag
// "integration":
//
//	go test -tags integration -timeout 12m ./integration/
//
// Everything a test creates carries the label dockpack.test=1 or lives under a
// directory named dockpack-test-*, and is removed by t.Cleanup; TestMain sweeps
// leftovers of crashed runs before and after.
package integration
