package progress

// ComponentBytes is what a store backup did with one component's bytes
// (the JSON names are those of the store's statistics).
type ComponentBytes struct {
	// ReadBytes is the plaintext read.
	ReadBytes int64 `json:"read_bytes"`
	// NewRawBytes is the plaintext the store lacked; NewBytes what it
	// takes there (compressed).
	NewRawBytes int64 `json:"new_raw_bytes"`
	NewBytes    int64 `json:"new_bytes"`
	// ReusedRawBytes is the plaintext the store held already.
	ReusedRawBytes int64 `json:"reused_raw_bytes"`
}

// SetStore records a store backup's bytes per component so far: every
// report from now on carries them (store is kept, not copied: pass a new
// map each time and never change it afterwards).
func (t *Tracker) SetStore(store map[string]ComponentBytes) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.store = store
}
