package seal_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/dockpack/dockpack/backup/seal"
)

// A backup host seals with the recipients only; the manifest records the
// ciphertext's sha256; a restoring host opens with its identity.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "seal-example")
	defer os.RemoveAll(dir)
	id, _ := age.GenerateX25519Identity() // age-keygen -o key.txt
	keyFile := filepath.Join(dir, "key.txt")
	os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600)
	recipients := filepath.Join(dir, "recipients.txt")
	os.WriteFile(recipients, []byte("# ops\n"+id.Recipient().String()+"\n"), 0o644)

	// The backup host: --age-recipients-file recipients.txt.
	writer, err := seal.Load(ctx, seal.Config{RecipientsFiles: []string{recipients}})
	if err != nil {
		fmt.Println(err)
		return
	}
	var atRest bytes.Buffer
	d, _ := writer.Seal(ctx, &atRest, strings.NewReader("SQLite format 3\x00…"))
	fmt.Println("sealed:", !bytes.Contains(atRest.Bytes(), []byte("SQLite")), "checksum of what is at rest:", len(d.SHA256) == 64)

	// Without an identity: the structure and the ciphertext checksum.
	s, _ := seal.Inspect(ctx, bytes.NewReader(atRest.Bytes()))
	fmt.Println("stanzas:", s.Stanzas, "same checksum:", s.SHA256 == d.SHA256)

	// The restoring host: --age-identity key.txt.
	reader, _ := seal.Load(ctx, seal.Config{IdentityFiles: []string{keyFile}})
	var plain bytes.Buffer
	if _, err := reader.Open(ctx, &plain, bytes.NewReader(atRest.Bytes()), writer.Recipients()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("opened: %q\n", plain.String()[:15])
	// Output:
	// sealed: true checksum of what is at rest: true
	// stanzas: [X25519] same checksum: true
	// opened: "SQLite format 3"
}
