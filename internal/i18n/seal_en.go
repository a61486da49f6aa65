package i18n

// sealEN holds the messages of encryption at rest (age) in English.
var sealEN = map[string]string{
	"seal.show.encryption": "encryption    age, sealed to %s (restore, full verify and export need --age-identity)",
}

func init() { add(English, sealEN) }
