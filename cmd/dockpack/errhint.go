package main

import (
	"github.com/spf13/cobra"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/internal/i18n"
)

// errorHint is the line printed after an error in the user's language
// (--lang, $DOCKPACK_LANG): what to do, by the error's code
// (backup.ErrorCode, the one map of errors to codes). "" in English (the
// error says it) and for codes without a hint.
func errorHint(root *cobra.Command, err error) string {
	f := root.PersistentFlags().Lookup("lang")
	if f == nil {
		return ""
	}
	lang, ok := i18n.Normalize(f.Value.String())
	key := "error.hint." + backup.ErrorCode(err)
	if !ok || lang == i18n.English || !i18n.Has(lang, key) {
		return ""
	}
	return i18n.T(lang, key)
}
