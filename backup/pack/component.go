package pack

import (
	"fmt"
	"strings"

	"github.com/dockpack/dockpack/backup/internal/sentinel"
)

// Component is one part of a pack.
type Component string

// The components a pack can hold.
const (
	ComponentDB      Component = "db"
	ComponentVolumes Component = "volumes"
	ComponentImages  Component = "images"
)

// AllComponents lists every component in pack order.
var AllComponents = []Component{ComponentDB, ComponentVolumes, ComponentImages}

// ParseComponent maps "db", "volumes", "images" (and "database"/"sqlite") to a Component.
func ParseComponent(s string) (Component, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "db", "database", "sqlite":
		return ComponentDB, nil
	case "volumes", "volume":
		return ComponentVolumes, nil
	case "images", "image":
		return ComponentImages, nil
	}
	return "", fmt.Errorf("%w: unknown component %q (want db, volumes or images)", sentinel.ErrInvalidSpec, s)
}

// JoinComponents renders components as "db, volumes, images".
func JoinComponents(cs []Component) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}
