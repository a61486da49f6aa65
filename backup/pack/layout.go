package pack

// Pack layout: file and directory names inside a pack.
const (
	ManifestFile = "manifest.json"
	SumsFile     = "SHA256SUMS"
	ImagesFile   = "images.tar"
	VolumesDir   = "volumes"
	ComposeDir   = "compose"
	// DumpsDir holds a service's dump, dumps/<service>.<ext> (kind dump);
	// BindsDir its captured bind mounts, binds/<service>/<name>.tar (kind bind).
	DumpsDir      = "dumps"
	BindsDir      = "binds"
	NamePrefix    = "migration_pack_"
	PartialPrefix = ".partial-" + NamePrefix
	// PackTimeLayout is the UTC timestamp in a pack name: yyyymmdd_HHMMSS_mmm.
	TimeLayout = "20060102_150405.000"
	// FormatVersion is the manifest schema version this code writes and reads.
	FormatVersion = 1
)

// FileKind is the kind of a pack file: FileEntry.Kind in manifest.json, and
// the Kind of a verify check. Its values are manifest format 1's.
type FileKind string

// Kinds of pack files. The first four (and dump, bind) are listed in Manifest.Files; the
// others name manifest.json, SHA256SUMS and the pack directory itself.
const (
	FileSQLite  FileKind = "sqlite"
	FileVolume  FileKind = "volume"
	FileImages  FileKind = "images"
	FileCompose FileKind = "compose"
	// FileDump is a service's dump (the stdout of its dockpack.dump command);
	// FileBind a tar of a bind-mounted file or directory. Both are listed in
	// Manifest.Files and described in Manifest.Consistency.
	FileDump     FileKind = "dump"
	FileBind     FileKind = "bind"
	FileManifest FileKind = "manifest"
	FileSums     FileKind = "sums"
	FileDir      FileKind = "pack"
)

// DeletingPrefix names a pack being deleted: a prune renames a pack to
// .deleting-migration_pack_<ts> before removing it, so a half-deleted pack
// never looks complete. Leftovers of an interrupted deletion are removed by
// the next prune.
const DeletingPrefix = ".deleting-" + NamePrefix
