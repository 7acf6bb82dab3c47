// Package e2e holds Portico's black-box end-to-end tests: they build the real
// binary, run it as a subprocess on free local ports, configure it through the
// admin API and send traffic through it to real HTTP backends started by the
// tests. They never import the gateway's internal packages.
//
// Run them with
//
//	go test -race -count=1 ./test/e2e/
//
// They are skipped with -short.
package e2e
