package admin

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/internal/store"
)

// Paging defaults (SPEC 2).
const (
	defaultLimit = 20
	maxLimit     = 100
)

// list is the shape of every list answer. Items is never nil so that
// clients always see an array, never null.
type list[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

func newList[T any](items []T, total int) list[T] {
	if items == nil {
		items = []T{}
	}
	return list[T]{Items: items, Total: total}
}

// parsePage reads ?limit= and ?offset=. A limit above 100 (even one too
// large for an int) is clamped rather than refused, as the spec asks; a
// negative or non-integer value is a 400. An empty value means "not given".
func parsePage(r *http.Request) (store.Page, error) {
	q := r.URL.Query()
	p := store.Page{Limit: defaultLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil && isDigits(v):
			n = maxLimit // overflow of a valid positive integer
		case err != nil || n < 0:
			return p, badRequest("limit", "limit must be an integer from 0 to 100 (larger values are clamped to 100)")
		}
		p.Limit = min(n, maxLimit)
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, badRequest("offset", "offset must be an integer >= 0")
		}
		p.Offset = n
	}
	return p, nil
}

func isDigits(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// pageSlice applies a page to a list the store returns whole.
func pageSlice[T any](all []T, p store.Page) []T {
	if p.Offset >= len(all) {
		return nil
	}
	all = all[p.Offset:]
	if p.Limit < len(all) {
		all = all[:p.Limit]
	}
	return all
}
