// Package tarcheck validates tar streams while they stream to disk: image
// archives from the Engine's ImageSave (docker save) and volume archives from
// CopyFromContainer. Both answer HTTP 200 and can then end early, or (ImageSave)
// carry a JSON error appended to a partial tar, which `docker save -o` would
// have committed as a truncated file that looks like a success.
//
// The caller tees the bytes to its file (io.TeeReader) and passes the reader
// here. archive/tar alone is not enough: it reports a clean io.EOF when a
// stream stops at a 512-byte boundary, so the end-of-archive marker (two zero
// blocks) and the zero-only bytes after it are checked here, and an engine
// error appended to the stream is recognised and quoted.
//
// Every validation failure wraps ErrIncomplete; messages say what is missing
// or wrong and where (entry name, offset), but not the file name, which
// callers add ("images.tar: ..."). Memory stays bounded for multi-GB streams.
package tarcheck
