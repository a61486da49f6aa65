// Package nonnil turns nil maps and slices into empty ones, so that JSON
// shows {} and [] instead of null where a reader expects a collection.
package nonnil

// Map returns m, or an empty map when m is nil.
func Map[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}

// Slice returns s, or an empty slice when s is nil.
func Slice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
