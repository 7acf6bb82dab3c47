//go:build !race

package hmacauth

// raceEnabled: see race_test.go.
const raceEnabled = false
