package main

import (
	"fmt"
	"strings"

	"github.com/dockpack/dockpack/backup/settings"

	"go.yaml.in/yaml/v3"
)

// The UI-editable settings in the configuration of `dockpack serve`. Which
// settings exist, their YAML keys (under settings:), flags and environment
// variables all come from the settings table (jobs.SettingsFields); this
// file only knows how each setting type is written in text and YAML.

// settingsConfig holds the configured initial values of the settings by
// JSON name, as read (a schedule as its string: "" clears it). A setting
// without a value is not configured: the state DB's value, else the
// default, holds.
type settingsConfig map[string]any

// settingSyntax is how a setting type is written in a flag or an
// environment variable (text) and in the YAML file.
type settingSyntax struct {
	typ  string // shown in --help
	text func(s string) (any, error)
	yaml func(n *yaml.Node) (any, error)
}

var stringSetting = settingSyntax{typ: "string", text: func(s string) (any, error) { return strings.TrimSpace(s), nil }, yaml: decodeYAML[string]}

// settingSyntaxes has an entry for every jobs.FieldType.
var settingSyntaxes = map[settings.FieldType]settingSyntax{
	settings.TypeBool:     {typ: "bool", text: func(s string) (any, error) { return parseBool(s) }, yaml: decodeYAML[bool]},
	settings.TypeInt:      {typ: "int", text: func(s string) (any, error) { return parseInt(s) }, yaml: decodeYAML[int]},
	settings.TypeServices: {typ: "list", text: func(s string) (any, error) { return []string(splitList(s)), nil }, yaml: decodeYAMLList},
	settings.TypeString:   stringSetting,
	settings.TypeChoice:   stringSetting,
	settings.TypePath:     stringSetting,
	settings.TypeTarget:   stringSetting,
	settings.TypeEndpoint: stringSetting,
	settings.TypeProject:  stringSetting,
	settings.TypeSchedule: stringSetting,
}

func decodeYAML[T any](n *yaml.Node) (any, error) {
	var v T
	err := n.Decode(&v)
	return v, err
}

// decodeYAMLList reads a YAML sequence or a comma-separated string.
func decodeYAMLList(n *yaml.Node) (any, error) {
	var l stringList
	err := n.Decode(&l)
	return []string(l), err
}

// settingOptions are the flag and variable of every setting; given, they
// pin the setting.
func settingOptions() []cfgOption {
	var opts []cfgOption
	for _, f := range settings.Fields() {
		syn, ok := settingSyntaxes[f.Type]
		if !ok {
			panic(fmt.Sprintf("setting %s: dockpack serve cannot read a %s", f.Name, f.Type))
		}
		usage := "setting " + f.Name
		if f.Usage != "" {
			usage += ": " + f.Usage
		}
		opts = append(opts, cfgOption{key: "settings." + f.Name, flag: f.Flag, env: f.Env, typ: syn.typ, usage: usage, setting: f.Name,
			set: func(c *serveConfig, v string) error {
				x, err := syn.text(v)
				if err != nil {
					return err
				}
				c.Settings.set(f.Name, x)
				return nil
			},
			get: func(*serveConfig) string { return "" }})
	}
	return opts
}

func (sc *settingsConfig) set(name string, v any) {
	if *sc == nil {
		*sc = settingsConfig{}
	}
	(*sc)[name] = v
}

// UnmarshalYAML reads the settings: mapping strictly: a key that is not a
// setting is an error; a null value is no value.
func (sc *settingsConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: settings: want a mapping of setting names to values", n.Line)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f, ok := settings.Lookup(k.Value)
		if !ok {
			return fmt.Errorf("line %d: field %s not found in settings (one of %s)", k.Line, k.Value, strings.Join(settings.Editable(), ", "))
		}
		if seen[k.Value] {
			return fmt.Errorf("line %d: settings: %s is given twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		if v.Tag == "!!null" {
			continue
		}
		x, err := settingSyntaxes[f.Type].yaml(v)
		if err != nil {
			return fmt.Errorf("settings.%s: %w", f.Name, err)
		}
		sc.set(f.Name, x)
	}
	return nil
}

// MarshalYAML writes the configured settings in the table's order, lists
// in flow style.
func (sc settingsConfig) MarshalYAML() (any, error) {
	out := &yaml.Node{Kind: yaml.MappingNode}
	for _, f := range settings.Fields() {
		v, ok := sc[f.Name]
		if !ok {
			continue
		}
		var vn yaml.Node
		if err := vn.Encode(v); err != nil {
			return nil, err
		}
		if vn.Kind == yaml.SequenceNode {
			vn.Style = yaml.FlowStyle
		}
		out.Content = append(out.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: f.Name}, &vn)
	}
	return out, nil
}

// initialSettings are jobs.DefaultSettings with the configured values
// applied (and normalized: a blank schedule is none).
func (c *serveConfig) initialSettings() settings.Settings {
	var p settings.Patch
	for _, name := range settings.Editable() {
		if v, ok := c.Settings[name]; ok {
			_ = p.Set(name, v) // of the setting's type by construction
		}
	}
	s, _, _ := p.Apply(settings.Default())
	return s
}
