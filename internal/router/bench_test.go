package router

import (
	"fmt"
	"testing"

	"github.com/portico-gw/portico/internal/config"
)

// benchTable builds n routes of mixed kinds, four per service s:
//
//	=/svc{s}/exact/item        exact
//	^~/svc{s}/static/          prefix
//	/svc{s}/users/{id}/orders/{oid}  param
//	/svc{s}/api                plain
func benchTable(n int) *Table {
	routes := make([]Route, 0, n)
	for i := 0; i < n; i++ {
		s := i / 4
		var path string
		switch i % 4 {
		case 0:
			path = fmt.Sprintf("=/svc%d/exact/item", s)
		case 1:
			path = fmt.Sprintf("^~/svc%d/static/", s)
		case 2:
			path = fmt.Sprintf("/svc%d/users/{id}/orders/{oid}", s)
		default:
			path = fmt.Sprintf("/svc%d/api", s)
		}
		p, err := config.ParsePath(path)
		if err != nil {
			panic(err)
		}
		routes = append(routes, Route{Pattern: p, Method: "GET", ID: i})
	}
	return New(routes)
}

type benchCase struct {
	name, method, path string
	want               Result
}

// benchCases are lookups against benchTable for service s, which must have
// all four routes.
func benchCases(s int) []benchCase {
	return []benchCase{
		{"exact", "GET", fmt.Sprintf("/svc%d/exact/item", s), Found},
		{"param", "GET", fmt.Sprintf("/svc%d/users/42/orders/7", s), Found},
		{"prefix", "GET", fmt.Sprintf("/svc%d/static/css/app.css", s), Found},
		{"plain", "GET", fmt.Sprintf("/svc%d/api/v1/things", s), Found},
		{"head", "HEAD", fmt.Sprintf("/svc%d/api/v1/things", s), Found},
		{"miss", "GET", fmt.Sprintf("/svc%d/nosuch/thing", s), NotFound},
		{"405", "POST", fmt.Sprintf("/svc%d/api", s), MethodNotAllowed},
	}
}

func BenchmarkLookup(b *testing.B) {
	for _, kind := range []string{"exact", "param", "prefix", "plain", "head", "miss", "405"} {
		b.Run(kind, func(b *testing.B) {
			for _, n := range []int{10, 100, 1000, 10000} {
				tab := benchTable(n)
				var c benchCase
				for _, x := range benchCases(n / 4 / 2) {
					if x.name == kind {
						c = x
					}
				}
				b.Run(fmt.Sprint(n), func(b *testing.B) {
					b.ReportAllocs()
					var m Match
					for b.Loop() {
						if tab.Lookup(c.method, c.path, &m) != c.want {
							b.Fatal("wrong result")
						}
					}
				})
			}
		})
	}
}

func BenchmarkNew(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				benchTable(n)
			}
		})
	}
}
