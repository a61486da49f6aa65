package dockerapi

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// ContainerSelector names containers on the engine, in any project: by
// name ("ragflowauth-backend"), or by label ("label:KEY=VALUE", or
// "label:KEY" for any value).
type ContainerSelector struct {
	Name     string
	LabelKey string
	// LabelValue is the label's value; HasValue false matches any value.
	LabelValue string
	HasValue   bool
}

// ErrSelector marks a container selector that cannot be parsed.
var ErrSelector = errors.New("invalid container selector")

// ParseContainerSelector reads "NAME", "label:KEY" or "label:KEY=VALUE".
func ParseContainerSelector(s string) (ContainerSelector, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "label:"); ok {
		k, v, hasValue := strings.Cut(rest, "=")
		if k = strings.TrimSpace(k); k == "" {
			return ContainerSelector{}, fmt.Errorf("%w: %q names no label (want label:KEY=VALUE or label:KEY)", ErrSelector, s)
		}
		return ContainerSelector{LabelKey: k, LabelValue: v, HasValue: hasValue}, nil
	}
	name := strings.TrimPrefix(s, "/")
	if name == "" || strings.ContainsAny(name, " \t/=") {
		return ContainerSelector{}, fmt.Errorf("%w: %q is neither a container name nor label:KEY=VALUE", ErrSelector, s)
	}
	return ContainerSelector{Name: name}, nil
}

func (s ContainerSelector) String() string {
	switch {
	case s.Name != "":
		return s.Name
	case s.HasValue:
		return "label:" + s.LabelKey + "=" + s.LabelValue
	}
	return "label:" + s.LabelKey
}

// FindContainers returns the containers (any state, any project) each
// selector matches, once each, sorted by name, and the selectors that
// matched none. A name matches exactly (the engine's name filter matches
// substrings; they are dropped).
func (c *Client) FindContainers(ctx context.Context, sels []ContainerSelector) (found []Container, unmatched []ContainerSelector, err error) {
	seen := map[string]bool{}
	for _, sel := range sels {
		f := filters.NewArgs()
		if sel.Name != "" {
			f.Add("name", sel.Name)
		} else if sel.HasValue {
			f.Add("label", sel.LabelKey+"="+sel.LabelValue)
		} else {
			f.Add("label", sel.LabelKey)
		}
		list, err := c.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			return nil, nil, c.engineErr("list the containers matching "+sel.String(), err, nil)
		}
		n := 0
		for _, ct := range list {
			if sel.Name != "" && !hasName(ct.Names, sel.Name) {
				continue
			}
			n++
			if seen[ct.ID] {
				continue
			}
			seen[ct.ID] = true
			labels := ct.Labels
			if labels == nil {
				labels = map[string]string{}
			}
			found = append(found, Container{ID: ct.ID, Name: containerName(ct.Names), Service: labels[LabelService], State: string(ct.State),
				Running: ct.State == container.StateRunning || ct.State == container.StatePaused || ct.State == container.StateRestarting,
				ImageID: ct.ImageID, ImageRef: ct.Image, Labels: labels})
		}
		if n == 0 {
			unmatched = append(unmatched, sel)
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].Name < found[j].Name })
	return found, unmatched, nil
}

func hasName(names []string, name string) bool {
	for _, n := range names {
		if strings.TrimPrefix(n, "/") == name {
			return true
		}
	}
	return false
}
