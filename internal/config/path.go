package config

import (
	"fmt"
	"strings"
)

// PathKind is the matching rule of a frontend path, strongest first.
type PathKind uint8

// Path kinds in priority order (SPEC 2.3).
const (
	PathExact  PathKind = iota // "=/user": the path and nothing else
	PathPrefix                 // "^~/user": a plain string prefix, as in nginx
	PathParam                  // "/user/{id}": literal and one-segment parameter segments
	PathPlain                  // "/user": the path and anything below it at a segment boundary
)

func (k PathKind) String() string {
	switch k {
	case PathExact:
		return "exact"
	case PathPrefix:
		return "prefix"
	case PathParam:
		return "param"
	default:
		return "plain"
	}
}

// MaxPathLen bounds frontend and backend paths.
const MaxPathLen = 1024

// MaxPathParams bounds the parameters of one path pattern; the router keeps
// captures in a fixed array of this size so that lookup does not allocate.
const MaxPathParams = 16

// PathPattern is a parsed frontend path.
type PathPattern struct {
	Kind PathKind
	// Path is the pattern without its "=" or "^~" marker.
	Path string
	// Segments are the "/"-separated parts of Path for PathParam patterns.
	Segments []Segment
}

// Segment is one part of a parameter pattern: a literal or a parameter name.
type Segment struct {
	Literal string
	Param   string // non-empty when the segment is a parameter
}

// Params returns the parameter names of the pattern in order.
func (p PathPattern) Params() []string {
	var names []string
	for _, s := range p.Segments {
		if s.Param != "" {
			names = append(names, s.Param)
		}
	}
	return names
}

// Shape is a key equal for two patterns that match exactly the same request
// paths: the kind and the path with parameter names erased.
func (p PathPattern) Shape() string {
	if p.Kind != PathParam {
		return p.Kind.String() + ":" + p.Path
	}
	var b strings.Builder
	b.WriteString("param:")
	for _, s := range p.Segments {
		b.WriteByte('/')
		if s.Param != "" {
			b.WriteString("{}")
		} else {
			b.WriteString(s.Literal)
		}
	}
	return b.String()
}

// ParsePath parses a frontend path: "=/exact", "^~/prefix", "/with/{param}"
// or a plain "/path".
func ParsePath(s string) (PathPattern, error) {
	kind := PathPlain
	p := s
	switch {
	case strings.HasPrefix(s, "="):
		kind, p = PathExact, s[1:]
	case strings.HasPrefix(s, "^~"):
		kind, p = PathPrefix, s[2:]
	}
	if err := checkPathChars(p); err != nil {
		return PathPattern{}, err
	}
	hasBrace := strings.ContainsAny(p, "{}")
	if !hasBrace {
		return PathPattern{Kind: kind, Path: p}, nil
	}
	if kind != PathPlain {
		return PathPattern{}, fmt.Errorf("parameters {name} cannot be used in an exact (=) or prefix (^~) path")
	}
	segs, err := parseSegments(p)
	if err != nil {
		return PathPattern{}, err
	}
	return PathPattern{Kind: PathParam, Path: p, Segments: segs}, nil
}

func checkPathChars(p string) error {
	if p == "" || p[0] != '/' {
		return fmt.Errorf("must start with /")
	}
	if len(p) > MaxPathLen {
		return fmt.Errorf("must be at most %d characters", MaxPathLen)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c <= ' ' || c == 0x7f:
			return fmt.Errorf("must not contain spaces or control characters")
		case c == '?':
			return fmt.Errorf("must not contain '?': the query string is not part of the path (it is passed on to the backend as sent)")
		case c == '#':
			return fmt.Errorf("must not contain '#': a fragment is never sent to a server")
		}
	}
	if strings.Contains(p, "//") {
		return fmt.Errorf("must not contain an empty segment (//)")
	}
	return nil
}

func parseSegments(p string) ([]Segment, error) {
	parts := strings.Split(p[1:], "/")
	segs := make([]Segment, 0, len(parts))
	seen := map[string]bool{}
	for _, part := range parts {
		if !strings.ContainsAny(part, "{}") {
			segs = append(segs, Segment{Literal: part})
			continue
		}
		if len(part) < 3 || part[0] != '{' || part[len(part)-1] != '}' {
			return nil, fmt.Errorf("a parameter must be a whole segment such as /{id}, got %q", part)
		}
		name := part[1 : len(part)-1]
		if !isIdent(name) {
			return nil, fmt.Errorf("parameter name %q must be letters, digits and _ and not start with a digit", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("parameter {%s} is used twice", name)
		}
		seen[name] = true
		segs = append(segs, Segment{Param: name})
	}
	if len(seen) > MaxPathParams {
		return nil, fmt.Errorf("must have at most %d parameters", MaxPathParams)
	}
	return segs, nil
}

func isIdent(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

// BackendPathParams returns the {name} references in a backend path.
func BackendPathParams(p string) ([]string, error) {
	parts, err := ParseBackendPath(p)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, part := range parts {
		if part.Param != "" {
			names = append(names, part.Param)
		}
	}
	return names, nil
}

// ParseBackendPath splits a backend path into literal runs and {name}
// references, in order.
func ParseBackendPath(p string) ([]Segment, error) {
	var parts []Segment
	lit := 0 // start of the current literal run
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '{':
			j := strings.IndexByte(p[i:], '}')
			if j < 0 {
				return nil, fmt.Errorf("has an unclosed {")
			}
			name := p[i+1 : i+j]
			if !isIdent(name) {
				return nil, fmt.Errorf("parameter name %q must be letters, digits and _", name)
			}
			if i > lit {
				parts = append(parts, Segment{Literal: p[lit:i]})
			}
			parts = append(parts, Segment{Param: name})
			i += j
			lit = i + 1
		case '}':
			return nil, fmt.Errorf("has a } without {")
		}
	}
	if lit < len(p) {
		parts = append(parts, Segment{Literal: p[lit:]})
	}
	return parts, nil
}
