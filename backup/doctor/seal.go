package doctor

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/internal/precheck"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/seal"
	"github.com/dockpack/dockpack/internal/bounded"
)

// CheckEncryption is encryption at rest (docs/encryption.md) as the target
// holds it: whether the identity given to the machine that runs restores
// (Options.AgeIdentityFiles) opens the target's sealed packs, and whether a
// target the configuration seals (Options.RequireEncryption,
// Options.AgeRecipientsFiles) still holds plaintext packs. Only manifests
// are read; no key is ever shown, only public keys.
const CheckEncryption = "encryption"

// sealNamed is how many packs or recipients a finding names at most.
const sealNamed = 5

// encryption checks the target's sealed and plaintext packs (skipped when
// nothing is sealed and nothing asks for it).
func (d *doctor) encryption(ctx context.Context) precheck.Result {
	b := d.begin(CheckEncryption)
	required := d.o.RequireEncryption || len(d.o.AgeRecipientsFiles) > 0
	switch {
	case d.o.Target == "":
		b.Skip("precheck.target.skip")
		return b.Result()
	}
	packs, err := bounded.Call(ctx, d.o.CheckTimeout, "listing the packs in "+d.o.Target, func() ([]pack.Info, error) { return d.listPacks(ctx) })
	if err != nil {
		b.Skip("doctor.seal.unlisted", d.o.Target) // the packs check reports it
		return b.Result()
	}
	var sealed, plain []pack.Info
	for _, p := range packs {
		switch {
		case p.Status != pack.StatusComplete:
		case p.Encryption != nil:
			sealed = append(sealed, p)
		default:
			plain = append(plain, p)
		}
	}
	if len(sealed) == 0 && !required {
		b.Skip("doctor.seal.none")
		return b.Result()
	}
	b.Evidence("sealed_packs", strconv.Itoa(len(sealed)))
	b.Evidence("plaintext_packs", strconv.Itoa(len(plain)))
	if required {
		d.sealConfigured(ctx, b)
	}
	okKey := "doctor.seal.ok_plain" // required, nothing sealed yet
	if len(sealed) > 0 {
		okKey = "doctor.seal.ok_passphrase"
		if d.sealIdentity(ctx, b, sealed) {
			okKey = "doctor.seal.ok"
		}
	}
	if required && len(plain) > 0 {
		names := make([]string, 0, sealNamed)
		for _, p := range plain[:min(len(plain), sealNamed)] { // newest first
			names = append(names, p.Name)
		}
		b.Evidence("plaintext", strings.Join(names, ", "))
		b.Raise(check.Warn, "plaintext_packs", d.p.T("doctor.seal.plaintext", len(plain), strings.Join(names, ", ")),
			d.p.T("doctor.seal.plaintext.fix"))
	}
	b.OK(okKey, len(sealed))
	return b.Result()
}

// sealConfigured shows what asks for encryption: require_encryption and
// the recipients the backups seal to (public keys, from the files).
func (d *doctor) sealConfigured(ctx context.Context, b *precheck.Builder) {
	if d.o.RequireEncryption {
		b.Evidence("encryption_required", "yes")
	}
	if len(d.o.AgeRecipientsFiles) == 0 {
		return
	}
	k, err := seal.Load(ctx, seal.Config{RecipientsFiles: d.o.AgeRecipientsFiles})
	if err != nil {
		b.Evidence("configured_recipients", "unreadable: "+err.Error())
		return
	}
	b.Evidence("configured_recipients", strings.Join(k.Recipients(), ", "))
}

// sealIdentity warns (identity_missing) when the identity given opens none
// of the recipients of some sealed packs, naming those recipients. Packs
// sealed to a passphrase are counted, not checked (a person types it). It
// reports whether packs sealed to keys were checked.
func (d *doctor) sealIdentity(ctx context.Context, b *precheck.Builder, sealed []pack.Info) bool {
	var keyed []pack.Info
	passphrase := 0
	for _, p := range sealed {
		if slices.Contains(p.Encryption.Recipients, seal.PassphraseRecipient) {
			passphrase++
			continue
		}
		keyed = append(keyed, p)
	}
	b.Evidence("pack_recipients", strings.Join(recipientsOf(keyed), ", "))
	if passphrase > 0 {
		b.Evidence("passphrase_packs", strconv.Itoa(passphrase))
	}
	if len(keyed) == 0 {
		return false
	}
	if len(d.o.AgeIdentityFiles) == 0 {
		b.Raise(check.Warn, "identity_missing", d.p.T("doctor.seal.no_identity", len(keyed), strings.Join(recipientsOf(keyed), ", ")),
			d.p.T("doctor.seal.identity.fix"))
		return true
	}
	k, err := seal.Load(ctx, seal.Config{IdentityFiles: d.o.AgeIdentityFiles})
	if err != nil {
		b.Raise(check.Warn, "identity_missing", d.p.T("doctor.seal.identity_unreadable", strings.Join(d.o.AgeIdentityFiles, ", ")),
			d.p.T("doctor.seal.identity.fix"))
		b.Detail(err.Error())
		return true
	}
	b.Evidence("identity", strings.Join(k.IdentityRecipients(), ", "))
	var closed []pack.Info
	for _, p := range keyed {
		if !k.CanOpen(p.Encryption.Recipients) {
			closed = append(closed, p)
		}
	}
	if len(closed) == 0 {
		return true
	}
	names := make([]string, 0, sealNamed)
	for _, p := range closed[:min(len(closed), sealNamed)] {
		names = append(names, p.Name)
	}
	b.Evidence("unopenable", strings.Join(names, ", "))
	b.Raise(check.Warn, "identity_missing", d.p.T("doctor.seal.no_match", len(closed), strings.Join(recipientsOf(closed), ", "),
		strings.Join(k.IdentityRecipients(), ", ")), d.p.T("doctor.seal.identity.fix"))
	return true
}

// recipientsOf are the distinct recipients of packs, in order, at most
// sealNamed and then how many more.
func recipientsOf(packs []pack.Info) []string {
	var out []string
	for _, p := range packs {
		for _, r := range p.Encryption.Recipients {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	if len(out) > sealNamed {
		out = append(out[:sealNamed], fmt.Sprintf("(+%d)", len(out)-sealNamed))
	}
	return out
}
