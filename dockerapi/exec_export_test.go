package dockerapi

// Exec's internals, for the black-box tests.
var (
	NewTailWriter = func(max int) interface {
		Write([]byte) (int, error)
		Tail() string
	} {
		return &tailExport{newTailWriter(max, nil)}
	}
	KillProcessTree = killProcessTree
	QuoteCmd        = quoteCmd
)

type tailExport struct{ *tailWriter }

func (t *tailExport) Tail() string { return t.tail() }
