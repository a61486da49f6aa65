package pack

// ExportSource is the pack an exported pack was made from (`dockpack
// export`): its name, package hash and format. Informative: a reader needs
// nothing of it.
type ExportSource struct {
	Pack          string `json:"pack"`
	PackageHash   string `json:"package_hash"`
	FormatVersion int    `json:"format_version"`
}
