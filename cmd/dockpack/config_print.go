package main

import (
	"bytes"
	"fmt"
	"io"
	"slices"

	"go.yaml.in/yaml/v3"
)

// print writes the merged configuration as YAML, secrets redacted, with
// the source of every key that did not come from the defaults.
func (c *serveConfig) print(w io.Writer) error {
	out := *c
	if out.Token != "" {
		out.Token = "<redacted>"
	}
	if out.Webhook.Secret != "" {
		out.Webhook.Secret = "<redacted>"
	}
	if out.JWT.Secret != "" {
		out.JWT.Secret = "<redacted>"
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&out); err != nil {
		return err
	}
	_ = enc.Close()
	fmt.Fprintln(w, "# dockpack serve: merged configuration (flags > DOCKPACK_* environment > --config file > defaults)")
	if _, err := w.Write(buf.Bytes()); err != nil {
		return err
	}
	keys := make([]string, 0, len(c.sources))
	for k := range c.sources {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > 0 {
		fmt.Fprintln(w, "# sources (anything else is a default):")
		for _, k := range keys {
			fmt.Fprintf(w, "#   %s: %s\n", k, c.sources[k])
		}
	}
	return nil
}
