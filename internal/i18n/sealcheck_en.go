package i18n

// sealcheckEN holds the doctor's encryption-at-rest check in English.
var sealcheckEN = map[string]string{
	"check.title.encryption":          "encrypted",
	"check.ev.sealed_packs":           "sealed packs",
	"check.ev.plaintext_packs":        "plaintext packs",
	"check.ev.encryption_required":    "required",
	"check.ev.configured_recipients":  "backups seal to",
	"check.ev.pack_recipients":        "packs sealed to",
	"check.ev.passphrase_packs":       "passphrase packs (not checked)",
	"check.ev.identity":               "identity of",
	"check.ev.unopenable":             "packs it cannot open",
	"check.ev.plaintext":              "plaintext",
	"doctor.seal.unlisted":            "the packs in %s cannot be listed (the packs check says why)",
	"doctor.seal.none":                "no pack is sealed and nothing asks for encryption",
	"doctor.seal.ok_plain":            "%d sealed packs: encryption is configured and the target holds no plaintext pack",
	"doctor.seal.ok_passphrase":       "%d sealed packs, to a passphrase (not checked: a person types it)",
	"doctor.seal.ok":                  "%d sealed packs; the identity given opens them",
	"doctor.seal.no_identity":         "%d packs are sealed to %s and no age identity is given to this machine: it cannot restore, drill or fully verify them",
	"doctor.seal.identity_unreadable": "the age identity %s cannot be read",
	"doctor.seal.no_match":            "%d packs are sealed to %s; the identity given is that of %s and opens none of them",
	"doctor.seal.identity.fix": "give the identity file (age-keygen's output, 0600) of one of those recipients: dockpack doctor/restore/verify " +
		"--age-identity FILE, the daemon's setting age_identity_file (dockpack serve --age-identity, $DOCKPACK_AGE_IDENTITY); " +
		"without it these packs cannot be restored",
	"doctor.seal.plaintext": "encryption is configured but %d packs in the target are plaintext (newest: %s)",
	"doctor.seal.plaintext.fix": "packs made before encryption was configured stay readable by whoever reads the target: make a sealed " +
		"backup, then remove the plaintext packs (dockpack prune) or move them somewhere safe",
}

func init() { add(English, sealcheckEN) }
