// Package consistency is what dockpack knows about making a pack of a live
// compose stack consistent without taking it down: the labels a service
// carries (hooks, dumps, presets, exclusions; the label table in labels.go),
// the vendors' recommended dump commands (presets.go), the compose model
// read with compose-go (depends_on, named volumes, bind mounts, profiles;
// model.go), the order services stop and start in (order.go), the plan a
// backup follows for a stack (plan.go) and the tar of a bind mount
// (binds.go). Plan, Run, the doctor (through backup/internal/precheck) and
// restore share it; it runs no command itself (dockerapi.Exec does).
package consistency
