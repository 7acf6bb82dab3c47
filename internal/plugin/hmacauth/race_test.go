//go:build race

package hmacauth

// raceEnabled: under the race detector sync.Pool drops a share of what it is
// given on purpose, so pooled code allocates and allocation counts mean
// nothing.
const raceEnabled = true
