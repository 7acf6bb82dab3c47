package router

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/portico-gw/portico/internal/config"
)

// Method indexes: a bit each in a leaf's mask. mOther stands for every method
// outside the seven an API may name; only ANY routes allow it.
const (
	mGET = iota
	mPOST
	mPUT
	mDELETE
	mHEAD
	mPATCH
	mOPTIONS
	mOther
	nMethods

	allKnown = 1<<mOther - 1 // the bits that can appear in Allow
)

// methodNames are the methods in index order.
var methodNames = [mOther]string{"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"}

func methodIndex(m string) int {
	switch m {
	case "GET":
		return mGET
	case "POST":
		return mPOST
	case "PUT":
		return mPUT
	case "DELETE":
		return mDELETE
	case "HEAD":
		return mHEAD
	case "PATCH":
		return mPATCH
	case "OPTIONS":
		return mOPTIONS
	}
	return mOther
}

// allowText holds the Allow header for every set of methods, precomputed so
// that even a 405 does not allocate.
var allowText = func() (t [allKnown + 1]string) {
	sorted := []int{mDELETE, mGET, mHEAD, mOPTIONS, mPATCH, mPOST, mPUT}
	for mask := range t {
		var names []string
		for _, i := range sorted {
			if mask&(1<<i) != 0 {
				names = append(names, methodNames[i])
			}
		}
		t[mask] = strings.Join(names, ", ")
	}
	return t
}()

// leaf holds the routes of one pattern shape: which methods they allow and,
// per method, the ID of the route that serves it. Resolving ANY and input
// order when building keeps lookup to one bit test and one array read.
type leaf struct {
	mask uint8
	ids  [nMethods]int
}

// add records a route; a method that an earlier route of the same shape
// already serves stays with the earlier route.
func (l *leaf) add(method string, id int) {
	if method == config.MethodAny {
		for i := range nMethods {
			if l.mask&(1<<i) == 0 {
				l.mask |= 1 << i
				l.ids[i] = id
			}
		}
		return
	}
	i := methodIndex(method)
	if i == mOther {
		panic(fmt.Sprintf("router: route %d has method %q, want one of %s or %s", id, method, strings.Join(config.Methods, " "), config.MethodAny))
	}
	if l.mask&(1<<i) == 0 {
		l.mask |= 1 << i
		l.ids[i] = id
	}
}

// rnode is a node of a radix tree of prefix or plain patterns. Its key is the
// concatenation of the labels from the root; only nodes whose key is a pattern
// have a leaf.
type rnode struct {
	label string
	leaf  *leaf
	first []byte // first byte of each child's label, parallel to kids
	kids  []*rnode
}

// next returns the child whose label continues the path after its first d
// bytes, or nil. Children's labels start with distinct bytes, so there is at
// most one.
func (n *rnode) next(path string, d int) *rnode {
	if d >= len(path) {
		return nil
	}
	b := path[d]
	// A loop beats bytes.IndexByte here: nodes have few children, and the
	// call overhead of the assembly routine dominates at these sizes.
	for i, f := range n.first {
		if f == b {
			c := n.kids[i]
			if len(path)-d >= len(c.label) && path[d:d+len(c.label)] == c.label {
				return c
			}
			return nil
		}
	}
	return nil
}

// get returns the node for key below n, creating and splitting nodes as
// needed.
func (n *rnode) get(key string) *rnode {
	for key != "" {
		i := bytes.IndexByte(n.first, key[0])
		if i < 0 {
			c := &rnode{label: key}
			n.first = append(n.first, key[0])
			n.kids = append(n.kids, c)
			return c
		}
		c := n.kids[i]
		common := 0
		for common < len(key) && common < len(c.label) && key[common] == c.label[common] {
			common++
		}
		if common < len(c.label) {
			mid := &rnode{label: c.label[:common], first: []byte{c.label[common]}, kids: []*rnode{c}}
			c.label = c.label[common:]
			n.kids[i] = mid
			c = mid
		}
		n, key = c, key[common:]
	}
	return n
}

func (n *rnode) leafFor(key string) *leaf {
	x := n.get(key)
	if x.leaf == nil {
		x.leaf = new(leaf)
	}
	return x.leaf
}

// smallLits is the number of literal children up to which a linear scan beats
// hashing the segment.
const smallLits = 8

// pnode is a node of the segment trie of param patterns.
type pnode struct {
	leaf   *leaf
	lits   []pedge           // literal children while there are few
	litMap map[string]*pnode // literal children when there are many
	param  *pnode            // the parameter child; its name does not matter
}

type pedge struct {
	label string
	node  *pnode
}

func (n *pnode) child(seg string) *pnode {
	if n.litMap != nil {
		return n.litMap[seg]
	}
	for i := range n.lits {
		if n.lits[i].label == seg {
			return n.lits[i].node
		}
	}
	return nil
}

func (n *pnode) addLit(seg string) *pnode {
	if c := n.child(seg); c != nil {
		return c
	}
	c := new(pnode)
	if n.litMap == nil && len(n.lits) < smallLits {
		n.lits = append(n.lits, pedge{seg, c})
		return c
	}
	if n.litMap == nil {
		n.litMap = make(map[string]*pnode, 2*smallLits)
		for _, e := range n.lits {
			n.litMap[e.label] = e.node
		}
		n.lits = nil
	}
	n.litMap[seg] = c
	return c
}

// New builds the table. The patterns must come from config.ParsePath and the
// methods from a validated API: New panics on a method it does not know or on
// a param pattern with more than config.MaxPathParams parameters, because
// either means a caller skipped validation, and serving such a table would be
// wrong.
func New(routes []Route) *Table {
	t := &Table{n: len(routes)}
	for _, r := range routes {
		p := r.Pattern
		var l *leaf
		switch p.Kind {
		case config.PathExact:
			if t.exact == nil {
				t.exact = make(map[string]*leaf)
			}
			if l = t.exact[p.Path]; l == nil {
				l = new(leaf)
				t.exact[p.Path] = l
			}
		case config.PathPrefix:
			if t.prefix == nil {
				t.prefix = new(rnode)
			}
			l = t.prefix.leafFor(p.Path)
		case config.PathPlain:
			if t.plain == nil {
				t.plain = new(rnode)
			}
			l = t.plain.leafFor(p.Path)
		case config.PathParam:
			if t.param == nil {
				t.param = new(pnode)
			}
			l = t.param.leafFor(r.ID, p.Segments)
		default:
			panic(fmt.Sprintf("router: route %d has unknown path kind %d", r.ID, p.Kind))
		}
		l.add(r.Method, r.ID)
	}
	return t
}

func (n *pnode) leafFor(id int, segs []config.Segment) *leaf {
	params := 0
	for _, s := range segs {
		if s.Param != "" {
			params++
			if params > config.MaxPathParams {
				panic(fmt.Sprintf("router: route %d has more than %d parameters", id, config.MaxPathParams))
			}
			if n.param == nil {
				n.param = new(pnode)
			}
			n = n.param
			continue
		}
		n = n.addLit(s.Literal)
	}
	if n.leaf == nil {
		n.leaf = new(leaf)
	}
	return n.leaf
}
