package i18n

// errHintEN holds, by error code (backup.ErrorCode), the line the CLI
// prints after an error in the user's language: what to do. The error
// itself is English and says it too, so English prints none of these;
// they exist for the catalogues' parity and for callers that want them.
var errHintEN = map[string]string{
	"error.hint.age_identity_missing": "The pack is encrypted: give the identity (the age secret key file) of one of its recipients with --age-identity FILE (the daemon: the age_identity_file setting). Nothing was changed.",
	"error.hint.age_identity_wrong":   "None of the identities given opens this pack: give the identity of one of the recipients the error names (--age-identity FILE). Nothing was changed.",
	"error.hint.plaintext_refused":    "Encryption is required here: give recipients (--age-recipient or --age-recipients-file; the daemon: age_recipients_file), or back up to a target that does not require it. Nothing was written.",
	"error.hint.naming_key":           "The encrypted pack store needs its naming key file: give the store's own file with --age-naming-key FILE, or recover it with --age-identity (the daemon keeps one per store in <state-dir>/naming-keys/). Nothing was written.",
	"error.hint.encryption_not_wired": "This combination cannot be encrypted yet (docs/encryption.md §7); nothing was written in plaintext instead.",
}

func init() { add(English, errHintEN) }
