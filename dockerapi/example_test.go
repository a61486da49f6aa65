package dockerapi_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/dockpack/dockpack/dockerapi"
)

// A typo in the project name is an error that lists what the engine knows,
// never an empty backup.
func ExampleProjectNotFoundError() {
	var err error = &dockerapi.ProjectNotFoundError{Project: "ragflw", Known: []string{"monitoring", "ragflow"}}
	fmt.Println(errors.Is(err, dockerapi.ErrProjectNotFound))
	fmt.Println(err)
	// Output:
	// true
	// compose project "ragflw" not found: no container (in any state) and no volume carries the label com.docker.compose.project=ragflw; compose projects on this engine: monitoring, ragflow
}

// Images are saved by tag so that `docker load` restores their names; an
// untagged image is saved by ID.
func ExampleImage_SaveRef() {
	fmt.Println(dockerapi.Image{ID: "sha256:4f1c", RepoTags: []string{"ragflow:v0.15"}}.SaveRef())
	fmt.Println(dockerapi.Image{ID: "sha256:4f1c"}.SaveRef())
	// Output:
	// ragflow:v0.15
	// sha256:4f1c
}

// The backup pipeline in short: resolve, stop, save images, export volumes,
// restart. (Needs a Docker Engine, so it is compiled but not run.)
func Example() {
	ctx := context.Background()
	c, err := dockerapi.New(ctx, dockerapi.Options{})
	if err != nil {
		fmt.Println(err) // wraps ErrEngineUnreachable, names the host
		return
	}
	defer c.Close()
	st, err := c.ResolveStack(ctx, "ragflow")
	if err != nil {
		fmt.Println(err) // *ProjectNotFoundError lists the known projects
		return
	}
	var ids []string
	for _, ct := range st.Containers {
		ids = append(ids, ct.ID)
	}
	restart, err := c.StopContainers(ctx, ids, 30e9)
	defer restart() // starts them again even if ctx gets canceled
	if err != nil {
		return
	}
	var refs []string
	for _, im := range st.Images {
		refs = append(refs, im.SaveRef())
	}
	f, _ := os.Create("images.tar")
	if _, err := c.SaveImages(ctx, refs, f); err != nil {
		// ErrImageSaveIncomplete: images.tar is not an archive, delete it
		os.Remove(f.Name())
	}
	for _, v := range st.Volumes {
		vf, _ := os.Create(v.Name + ".tar")
		if _, err := c.ExportVolume(ctx, st, v.Name, vf); err != nil {
			os.Remove(vf.Name()) // ErrVolumeExportIncomplete
		}
	}
}
