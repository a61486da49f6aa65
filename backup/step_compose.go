package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/progress"
	"github.com/dockpack/dockpack/internal/fsutil"
)

func (r *runner) compose(ctx context.Context) error {
	st := r.plan.Stack
	r.trk.PercentAt(progress.StepCompose, progress.PctDataEnd, r.t("job.compose"))
	var srcs []string
	srcs = append(srcs, st.ComposeFiles...)
	srcs = append(srcs, st.EnvFiles...)
	if st.WorkingDir != "" {
		env := filepath.Join(st.WorkingDir, ".env")
		if _, err := os.Stat(env); err == nil && !slices.Contains(srcs, env) {
			srcs = append(srcs, env)
		}
	}
	used := map[string]bool{}
	for _, src := range srcs {
		base := filepath.Base(src)
		name := base
		for i := 2; used[name]; i++ {
			name = fmt.Sprintf("%d-%s", i, base)
		}
		f, err := os.Open(src)
		if err != nil {
			r.man.Skipped = append(r.man.Skipped, pack.SkipEntry{Kind: "compose-file", Source: src,
				Reason: fmt.Sprintf("not readable from where dockpack runs (%v); keep a copy of it yourself", errors.Unwrap(err))})
			continue
		}
		used[name] = true
		_, err = r.writeFile(ctx, progress.StepCompose, name, path.Join(pack.ComposeDir, name), pack.FileCompose, func(w io.Writer) error {
			_, err := io.Copy(w, fsutil.ContextReader(ctx, f))
			return err
		})
		f.Close()
		if err != nil {
			return stepErr(progress.StepCompose, src, err)
		}
	}
	return nil
}
