package router

import (
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/config"
)

// FuzzLookup builds a table from a few fuzz-derived patterns (one per line of
// patterns, each given the method that the matching byte of methods picks)
// and checks that Lookup does not panic, keeps every Span and Rest inside the
// path, and agrees with the reference matcher.
func FuzzLookup(f *testing.F) {
	f.Add("=/user\n^~/user\n/user/{id}\n/user", []byte{0, 1, 2, 7}, "GET", "/user/7")
	f.Add("/{a}/b\n/a/{b}\n/a/b/", []byte{0, 0, 4}, "HEAD", "/a/b")
	f.Add("/\n^~/\n/{x}/", []byte{3, 5, 6}, "PATCH", "/x/")
	f.Add("/a/{b}/{c}/d\n/a/{x}/c/{y}", []byte{7, 8}, "TRACE", "/a/b/c/d")
	f.Add("^~/img\n/img/", []byte{1, 1}, "POST", "/img42//x")
	methods := append(append([]string{}, config.Methods...), config.MethodAny)
	f.Fuzz(func(t *testing.T, patterns string, methodSel []byte, method, path string) {
		var routes []Route
		for i, s := range strings.Split(patterns, "\n") {
			if i == 8 {
				break // a few patterns are enough to overlap; more only slows the fuzzer
			}
			p, err := config.ParsePath(s)
			if err != nil {
				continue
			}
			m := config.MethodAny
			if i < len(methodSel) {
				m = methods[int(methodSel[i])%len(methods)]
			}
			routes = append(routes, Route{Pattern: p, Method: m, ID: i})
		}
		checkAgainstRef(t, New(routes), routes, method, path)
	})
}
