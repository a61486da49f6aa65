package seal

import "fmt"

// Run describes, for Decide, what a run is about to write.
type Run struct {
	// Required: the target or a setting asks for encryption (an encrypted
	// store — HasNamingKey —, a target's or the daemon's setting).
	Required bool
	// RequiredBy names what asks, for the message ("setting
	// encryption.required", "the encrypted store in s3://b/p").
	RequiredBy string
	// Encrypts: the run has recipients (Config.Encrypts, Keys.Encrypts).
	Encrypts bool
	// WriterSeals: the writer the run would use can seal what it writes.
	WriterSeals bool
	// Writer names that writer for the message ("classic pack to a
	// directory", "pack store on S3").
	Writer string
}

// Decide is the "no silent plaintext" rule, decided before anything is
// written: it says whether the run seals, or why it must not run.
//
//   - encryption asked for and no recipient → ErrPlaintextRefused, naming
//     what asked and what to set;
//   - recipients given and a writer that cannot seal → ErrNotWired (never
//     plaintext instead);
//   - recipients given → seal;
//   - neither → plaintext, as asked.
func Decide(r Run) (seal bool, err error) {
	by := r.RequiredBy
	if by == "" {
		by = "the configuration"
	}
	switch {
	case r.Required && !r.Encrypts:
		return false, fmt.Errorf("%w: %s asks for encryption; set --age-recipient or --age-recipients-file (or --age-passphrase-file), or the daemon's encryption recipients setting", ErrPlaintextRefused, by)
	case r.Encrypts && !r.WriterSeals:
		w := r.Writer
		if w == "" {
			w = "this writer"
		}
		if r.Required {
			return false, fmt.Errorf("%w: %s cannot seal yet, and %s asks for encryption; nothing was written", ErrNotWired, w, by)
		}
		return false, fmt.Errorf("%w: %s cannot seal yet; nothing was written (drop the age options to write plaintext deliberately)", ErrNotWired, w)
	case r.Encrypts:
		return true, nil
	default:
		return false, nil
	}
}

// Decide applies Decide to what c says, for a run through writer
// (writerSeals: whether that writer can seal).
func (c Config) Decide(writer string, writerSeals bool) (seal bool, err error) {
	c.applyDefaults()
	return Decide(Run{Required: c.Required, RequiredBy: c.RequiredBy, Encrypts: c.Encrypts(), WriterSeals: writerSeals, Writer: writer})
}
