package consistency

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

// Model is what the compose files say about the project: its services with
// their profiles, dependencies, labels, named volumes and bind mounts.
// dockpack reads the files named by the containers' labels
// (com.docker.compose.project.config_files) with compose-go, the compose
// specification's own parser, so that compose v1 and v2 files read alike.
type Model struct {
	Files      []string
	WorkingDir string
	Services   map[string]ModelService
	// Unset lists variables the files use that are not set where dockpack
	// runs (environment, .env, env files): placeholders stand in for
	// required ones, so paths built from them are not trusted.
	Unset []string
}

// ModelService is one service of the model.
type ModelService struct {
	Name      string
	Profiles  []string
	DependsOn []string
	Labels    map[string]string
	Volumes   []ModelVolume
	Binds     []ModelBind
}

// ModelVolume is a named volume a service mounts: Key in the file, Name on the engine.
type ModelVolume struct {
	Key, Name, Target string
	External          bool
}

// ModelBind is a bind mount of a service (Source absolute).
type ModelBind struct {
	Source, Target string
	ReadOnly       bool
}

// ModelOptions says which files to read.
type ModelOptions struct {
	Project    string
	Files      []string
	WorkingDir string // default: the first file's directory
	// EnvFiles are read after WorkingDir/.env; Environ (default os.Environ())
	// wins over both, as compose does.
	EnvFiles []string
	Environ  []string
}

// unsetPrefix marks the value that stands in for a required variable that
// is not set: a path, the most common use of a required variable.
const unsetPrefix = "/dockpack-unset-"

// LoadModel reads the compose files. Every service is read, whatever its
// profiles (ActiveServices picks those in use).
func LoadModel(ctx context.Context, o ModelOptions) (*Model, error) {
	if len(o.Files) == 0 {
		return nil, errors.New("no compose file named")
	}
	if o.WorkingDir == "" {
		o.WorkingDir = filepath.Dir(o.Files[0])
	}
	env, err := modelEnv(o)
	if err != nil {
		return nil, err
	}
	var files []types.ConfigFile
	for _, f := range o.Files {
		cfg, err := readComposeFile(f)
		if err != nil {
			return nil, err
		}
		files = append(files, types.ConfigFile{Filename: f, Config: cfg})
	}
	var mu sync.Mutex
	unset := map[string]bool{}
	lookup := func(placeholder bool) template.Mapping {
		return func(k string) (string, bool) {
			if v, ok := env[k]; ok {
				return v, true
			}
			mu.Lock()
			unset[k] = true
			mu.Unlock()
			if placeholder {
				return unsetPrefix + k, true
			}
			return "", false
		}
	}
	p, err := loader.LoadWithContext(ctx, types.ConfigDetails{WorkingDir: o.WorkingDir, ConfigFiles: files, Environment: env},
		func(lo *loader.Options) {
			lo.SetProjectName(o.Project, true)
			lo.Profiles = []string{"*"}
			lo.SkipResolveEnvironment = true
			lo.ResolvePaths = true
			lo.Interpolate.LookupValue = func(k string) (string, bool) { return lookup(false)(k) }
			lo.Interpolate.Substitute = func(s string, m template.Mapping) (string, error) {
				out, err := template.SubstituteWithOptions(s, m, template.WithoutLogging)
				if err != nil { // a required variable is unset: a placeholder stands in
					out, err = template.SubstituteWithOptions(s, lookup(true), template.WithoutLogging)
				}
				return out, err
			}
		})
	if err != nil {
		return nil, fmt.Errorf("read the compose model from %s: %w", strings.Join(o.Files, ", "), err)
	}
	m := &Model{Files: o.Files, WorkingDir: o.WorkingDir, Services: map[string]ModelService{}}
	for k := range unset {
		m.Unset = append(m.Unset, k)
	}
	sort.Strings(m.Unset)
	for name, s := range p.Services {
		m.Services[name] = modelService(p, name, s)
	}
	return m, nil
}

func modelService(p *types.Project, name string, s types.ServiceConfig) ModelService {
	ms := ModelService{Name: name, Profiles: append([]string(nil), s.Profiles...), Labels: map[string]string{}}
	for k, v := range s.Labels {
		ms.Labels[k] = v
	}
	for dep := range s.DependsOn {
		ms.DependsOn = append(ms.DependsOn, dep)
	}
	sort.Strings(ms.DependsOn)
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeVolume:
			if v.Source == "" {
				continue // anonymous
			}
			mv := ModelVolume{Key: v.Source, Name: v.Source, Target: v.Target}
			if tv, ok := p.Volumes[v.Source]; ok {
				if tv.Name != "" {
					mv.Name = tv.Name
				}
				mv.External = bool(tv.External)
			}
			ms.Volumes = append(ms.Volumes, mv)
		case types.VolumeTypeBind:
			ms.Binds = append(ms.Binds, ModelBind{Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
		}
	}
	return ms
}

// readComposeFile parses one file. Its obsolete top-level version is
// dropped here so that the parser does not warn about it on stderr.
func readComposeFile(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if cfg == nil {
		return nil, fmt.Errorf("%s is empty", path)
	}
	delete(cfg, "version")
	return cfg, nil
}

// modelEnv is the environment the files are interpolated with: the
// working directory's .env, then the env files, then the process's
// environment (which wins).
func modelEnv(o ModelOptions) (map[string]string, error) {
	var files []string
	if dot := filepath.Join(o.WorkingDir, ".env"); fileExists(dot) {
		files = append(files, dot)
	}
	for _, f := range o.EnvFiles {
		if fileExists(f) && !contains(files, f) {
			files = append(files, f)
		}
	}
	environ := o.Environ
	if environ == nil {
		environ = os.Environ()
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	fromFiles, err := dotenv.GetEnvFromFile(env, files)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", strings.Join(files, ", "), err)
	}
	for k, v := range fromFiles {
		if _, ok := env[k]; !ok {
			env[k] = v
		}
	}
	return env, nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Graph is the model's dependency graph.
func (m *Model) Graph() Graph {
	g := Graph{}
	for name, s := range m.Services {
		g[name] = append([]string(nil), s.DependsOn...)
	}
	return g
}

// ActiveServices are the services whose profiles are in use: those without
// profiles, and those with a profile that a service with containers has
// (running lists the services that have containers). Sorted.
func (m *Model) ActiveServices(withContainers []string) (active, profiles []string) {
	inUse := map[string]bool{}
	for _, s := range withContainers {
		for _, p := range m.Services[s].Profiles {
			inUse[p] = true
		}
	}
	for p := range inUse {
		profiles = append(profiles, p)
	}
	sort.Strings(profiles)
	for name, s := range m.Services {
		on := len(s.Profiles) == 0 || contains(withContainers, name)
		for _, p := range s.Profiles {
			on = on || inUse[p]
		}
		if on {
			active = append(active, name)
		}
	}
	sort.Strings(active)
	return active, profiles
}

// Placeholder reports whether a value came from an unset required variable.
func Placeholder(s string) bool { return strings.Contains(s, unsetPrefix) }
