package consistency

import (
	"slices"
	"sort"
	"strings"
)

// Graph is the compose dependency graph: each service and the services it
// depends on (depends_on).
type Graph map[string][]string

// LabelDependsOn is the label compose v2 writes on containers with the
// service's depends_on ("db:service_started:false,cache:service_healthy:true");
// compose v1 writes none.
const LabelDependsOn = "com.docker.compose.depends_on"

// ParseDependsOnLabel reads the services named by a depends_on label.
func ParseDependsOnLabel(v string) []string {
	var out []string
	for _, part := range strings.Split(v, ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(part), ":")
		if name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Dependents lists every service that depends on svc, directly or through
// others, sorted.
func (g Graph) Dependents(svc string) []string {
	rev := g.reverse()
	seen := map[string]bool{svc: true}
	queue := []string{svc}
	var out []string
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, d := range rev[s] {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
				queue = append(queue, d)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (g Graph) reverse() map[string][]string {
	rev := map[string][]string{}
	for s, deps := range g {
		for _, d := range deps {
			rev[d] = append(rev[d], s)
		}
	}
	for _, v := range rev {
		sort.Strings(v)
	}
	return rev
}

// StopOrder orders services so that every service comes before the
// services it depends on (dependents first: an application stops before
// its database); starting them in the reverse order brings dependencies up
// first. Among services free to go, names sort. Dependencies through
// services outside the list count too (a → b → c orders a before c). A
// cycle (compose refuses them) is broken by name.
func (g Graph) StopOrder(services []string) []string {
	in := map[string]bool{}
	for _, s := range services {
		in[s] = true
	}
	// before[x] = the listed services that must stop before x (its dependents).
	before := map[string]map[string]bool{}
	for _, s := range services {
		for _, d := range g.Dependents(s) {
			if in[d] {
				if before[s] == nil {
					before[s] = map[string]bool{}
				}
				before[s][d] = true
			}
		}
	}
	var out []string
	done := map[string]bool{}
	remaining := slices.Clone(services)
	sort.Strings(remaining)
	remaining = slices.Compact(remaining)
	for len(remaining) > 0 {
		pick := -1
		for i, s := range remaining {
			ready := true
			for d := range before[s] {
				if !done[d] {
					ready = false
					break
				}
			}
			if ready {
				pick = i
				break
			}
		}
		if pick < 0 {
			pick = 0 // a cycle
		}
		out = append(out, remaining[pick])
		done[remaining[pick]] = true
		remaining = slices.Delete(remaining, pick, pick+1)
	}
	return out
}
