package admin

import (
	"context"
	"net/http"

	"github.com/portico-gw/portico/internal/store"
)

// save is the shape of every create and replace: read the body, decode and
// validate it, let fromURL set what the URL names (ids), store it, answer
// with status and the stored object as view shows it.
func save[T any](s *server, w http.ResponseWriter, r *http.Request, status int,
	parse func([]byte) (*T, error), fromURL func(*T), put func(context.Context, *T) error, view func(*T) any) {
	b, err := readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, err := parse(b)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if fromURL != nil {
		fromURL(obj)
	}
	if err := put(r.Context(), obj); err != nil {
		s.writeError(w, r, err)
		return
	}
	// The view may show what this node serves (a channel's node health):
	// render it once the node serves the write.
	settle(w)
	if view == nil {
		writeJSON(w, status, obj)
		return
	}
	writeJSON(w, status, view(obj))
}

// listPage is the shape of every paged list: parse ?limit= and ?offset=,
// read the page, answer {"items", "total"}.
func listPage[T any](s *server, w http.ResponseWriter, r *http.Request,
	read func(context.Context, store.Page) ([]T, int, error), each func(*T)) {
	p, err := parsePage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items, total, err := read(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items = clampItems(items, p.Limit)
	if each != nil {
		for i := range items {
			each(&items[i])
		}
	}
	writeJSON(w, http.StatusOK, newList(items, total))
}
