package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"go.yaml.in/yaml/v3"
)

// duration is a time.Duration written "30s" in flags, environment and YAML.
type duration time.Duration

func (d duration) String() string { return time.Duration(d).String() }

func (d duration) MarshalYAML() (any, error) { return d.String(), nil }

func (d *duration) UnmarshalYAML(n *yaml.Node) error { return decodeScalar(n, parseDuration, d) }

func parseDuration(s string) (duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 30s, 5m, 1h30m)", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("duration %s is negative", v)
	}
	return duration(v), nil
}

// byteSize is a size in bytes written "20MiB" or "1048576".
type byteSize int64

func (b byteSize) String() string { return units.BytesSize(float64(b)) }

func (b byteSize) MarshalYAML() (any, error) { return b.String(), nil }

func (b *byteSize) UnmarshalYAML(n *yaml.Node) error { return decodeScalar(n, parseByteSize, b) }

func parseByteSize(s string) (byteSize, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return byteSize(n), nil
	}
	n, err := units.RAMInBytes(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 65536, 64KiB, 20MiB)", s)
	}
	return byteSize(n), nil
}

// stringList is a list written "a,b" in flags and environment, and as a
// YAML sequence or comma-separated string in the file.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = splitList(n.Value)
		return nil
	case yaml.SequenceNode:
		var ss []string
		if err := n.Decode(&ss); err != nil {
			return err
		}
		*l = ss
		return nil
	}
	return fmt.Errorf("line %d: want a list or a comma-separated string", n.Line)
}

func splitList(s string) stringList {
	out := stringList{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseBool(s string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return false, fmt.Errorf("%q is not a boolean (true, false, 1, 0)", s)
	}
	return b, nil
}

func parseInt(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return n, nil
}

// decodeScalar parses a YAML scalar into *dst; the error names the line.
func decodeScalar[T any](n *yaml.Node, parse func(string) (T, error), dst *T) error {
	v, err := parse(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*dst = v
	return nil
}
