package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/s3"
	"github.com/dockpack/dockpack/backup/storage/targets"
	"github.com/dockpack/dockpack/backup/transfer"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/owner"
)

func init() { register(newCopyCmd) }

// s3Flags are the object storage settings a URL does not carry.
type s3Flags struct {
	endpoint, region, profile, credentials string
	partMiB, concurrency                   int
}

func (f *s3Flags) add(cmd *cobra.Command) { f.bind(cmd.Flags()) }

func (f *s3Flags) bind(fl *pflag.FlagSet) {
	fl.StringVar(&f.endpoint, "s3-endpoint", "", "endpoint of an S3-compatible service (default $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS)")
	fl.StringVar(&f.region, "s3-region", "", "region (default $AWS_REGION or the profile's, else us-east-1)")
	fl.StringVar(&f.profile, "s3-profile", "", "profile of the shared AWS config and credentials files (default $AWS_PROFILE)")
	fl.StringVar(&f.credentials, "s3-credentials-file", "", "shared credentials file (default $AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials)")
	fl.IntVar(&f.partMiB, "s3-part-size", s3.DefaultPartSize>>20, "multipart upload part size in MiB (memory: part size × (concurrency + 1))")
	fl.IntVar(&f.concurrency, "s3-concurrency", s3.DefaultConcurrency, "parts in flight")
}

func (f *s3Flags) options() s3.Options {
	return s3.Options{Endpoint: f.endpoint, Region: f.region, Profile: f.profile, CredentialsFile: f.credentials,
		PartSize: int64(f.partMiB) << 20, Concurrency: f.concurrency}
}

func newCopyCmd(g *globals) *cobra.Command {
	var (
		to      string
		jsonOut bool
		s3f     s3Flags
	)
	cmd := &cobra.Command{
		Use:   "copy PACK --to URL",
		Short: "Copy a complete pack to another target (a directory or s3://bucket/prefix), verified on arrival",
		Long: `Copy a complete pack to a second target — a directory or S3-compatible object storage
(s3://bucket/prefix) — for an off-site copy. PACK is a pack directory (/mnt/packs/migration_pack_…)
or a pack in object storage (s3://bucket/prefix/migration_pack_…).

Every file is hashed while it is read and again read back at the destination; both must match the
manifest. The copy resumes: a file already at the destination with the manifest's size and sha256
is not sent again. The pack is invisible at the destination until complete: its manifest.json is
written last (object storage), or it is written under a partial name and renamed (a directory).

Endpoint, region and credentials of object storage come from the --s3-* flags, else from the
standard AWS_* variables, profile and files; credentials never go in a URL.

Exit codes: 0 copied (or already there), 4 the source or the copy failed verification, 1 the copy
failed (it can be run again), 2 usage, 130 canceled.`,
		Args: requireArgs(1, "the pack to copy"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageError{errors.New("--to is required")}
			}
			res, err := runCopy(cmd.Context(), g, args[0], to, s3f.options())
			if err != nil {
				if errors.Is(err, transfer.ErrSource) || errors.Is(err, transfer.ErrArrival) {
					return fmt.Errorf("%w: %w", pack.ErrVerify, err)
				}
				return err
			}
			return printCopy(cmd.OutOrStdout(), g.lang, res, jsonOut)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the destination target: a directory or s3://bucket/prefix (the pack goes under it with its name)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the result as JSON")
	s3f.add(cmd)
	return cmd
}

// splitPack splits a pack's location into its target and its name.
func splitPack(p string) (string, string, error) {
	t, err := storage.ParseTarget(p)
	if err != nil {
		return "", "", usageError{err}
	}
	var name string
	switch t.Kind {
	case storage.KindS3:
		dir, base := path.Split(t.Prefix)
		name, t.Prefix = base, strings.TrimSuffix(dir, "/")
	default:
		abs, err := filepath.Abs(t.Path)
		if err != nil {
			return "", "", err
		}
		name, t.Path = filepath.Base(abs), filepath.Dir(abs)
	}
	if !strings.HasPrefix(name, pack.NamePrefix) {
		return "", "", usageError{fmt.Errorf("%s does not name a pack (%s<time>)", p, pack.NamePrefix)}
	}
	return t.String(), name, nil
}

// copyOwner names this copy in the destination's temporary names and
// upload markers: "copy-<pack hash>-<token>", so a run of the same copy
// aborts what a killed one left.
func copyOwner(name string) (mine, prefix string) {
	h := sha256.Sum256([]byte(name))
	prefix = "copy-" + hex.EncodeToString(h[:4]) + "-"
	return prefix + owner.ShortToken(owner.NewToken()), prefix
}

func runCopy(ctx context.Context, g *globals, from, to string, so s3.Options) (transfer.Result, error) {
	srcTarget, name, err := splitPack(from)
	if err != nil {
		return transfer.Result{}, err
	}
	mine, prefix := copyOwner(name)
	o := targets.Options{S3: so, Owner: mine}
	src, _, err := targets.Open(ctx, srcTarget, o)
	if err != nil {
		return transfer.Result{}, openErr(err)
	}
	defer src.Close()
	dst, _, err := targets.Open(ctx, to, o)
	if err != nil {
		return transfer.Result{}, openErr(err)
	}
	defer dst.Close()
	n, err := dst.AbortStale(ctx, func(o string) bool { return strings.HasPrefix(o, prefix) && o != mine })
	if err != nil {
		g.logger.Warn("copy: aborting what an earlier copy left", zap.Error(err))
	} else if n > 0 {
		g.logger.Info("copy: uploads of an interrupted copy aborted", zap.Int("uploads", n))
	}
	return transfer.Copy(ctx, src, dst, transfer.Options{Pack: name, Logger: g.logger})
}

func openErr(err error) error {
	if errors.Is(err, storage.ErrInvalidTarget) {
		return usageError{err}
	}
	return err
}

func printCopy(out io.Writer, lang string, r transfer.Result, jsonOut bool) error {
	if jsonOut {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	p := i18n.For(lang)
	if r.AlreadyThere {
		_, err := fmt.Fprintln(out, p.T("copy.already", r.Pack, r.Destination, r.Files))
		return err
	}
	_, err := fmt.Fprintln(out, p.T("copy.done", r.Pack, r.Destination, r.Files, r.Copied, r.Skipped, humanBytes(r.CopiedBytes)))
	return err
}
