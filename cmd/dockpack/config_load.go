package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// loadServeConfig merges defaults, the YAML file, the environment and the
// flags (in rising precedence) and validates the result.
func loadServeConfig(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) (*serveConfig, error) {
	env := func(k string) (string, bool) {
		v, ok := lookupEnv(k)
		return v, ok && v != ""
	}
	c := defaultServeConfig()
	path, _ := env("DOCKPACK_CONFIG")
	if f := fs.Lookup("config"); f != nil && f.Changed {
		path = f.Value.String()
	}
	if path != "" {
		if err := c.readYAML(path); err != nil {
			return nil, err
		}
	}
	pins := map[string]bool{}
	for _, p := range c.Pin {
		pins[p] = true
	}
	for i := range serveOptions {
		o := &serveOptions[i]
		var v, src string
		if f := fs.Lookup(o.flag); o.flag != "" && f != nil && f.Changed {
			v, src = f.Value.String(), "flag --"+o.flag
		} else if ev, ok := env(o.env); o.env != "" && ok {
			v, src = ev, "env $"+o.env
		} else {
			continue
		}
		if err := o.set(c, v); err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		c.sources[o.key] = src
		if o.setting != "" {
			pins[o.setting] = true
		}
	}
	c.Pin = c.Pin[:0]
	for p := range pins {
		c.Pin = append(c.Pin, p)
	}
	slices.Sort(c.Pin)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// readYAML decodes the file strictly (unknown keys are errors) over c.
func (c *serveConfig) readYAML(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read the configuration file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("configuration file %s: %w", path, err)
	}
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(b, &top); err == nil {
		for k, n := range top {
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					c.sources[k+"."+n.Content[i].Value] = "file"
				}
				continue
			}
			c.sources[k] = "file"
		}
	}
	return nil
}
