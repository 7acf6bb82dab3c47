package declarative

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	yaml "go.yaml.in/yaml/v3"

	"github.com/portico-gw/portico/internal/config"
)

// Parse reads a document in YAML or JSON (YAML is a superset of JSON),
// replaces ${VAR} in its values, reads the files it names, validates it and
// returns it canonical: defaults filled in as the admin API fills them, lists
// that are sets sorted, objects sorted by name. Any problem refuses the
// document whole: the error is then a *DocumentError listing every problem
// found (at most 100), each with its path in the document and its line.
//
// ${VAR} in a value (not in a key) is replaced by getenv(VAR); $${ stands for
// a literal ${. A variable that getenv does not know is a problem naming it
// and the field that uses it (getenv may be nil: no variable is known). The
// value is inserted as it is, never parsed as YAML, and a value that uses a
// variable takes the type of its field, quoted or not: port: "${PORT}" is a
// number when PORT is 8080.
//
// cert_file and key_file are read relative to dir. With dir == "" no file
// is read (a document received over the network must not read the
// server's files) and naming one is a problem.
//
// Unknown fields, mistyped values and repeated keys are problems; field
// names match exactly. An empty input is refused (an empty configuration is
// written {}), and so is a stream of more than one YAML document.
func Parse(data []byte, dir string, getenv func(string) (string, bool)) (*Document, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	root, err := decodeYAML(data)
	if err != nil {
		// JSON is YAML, but YAML refuses some of JSON's whitespace (tabs
		// that indent a line): JSON that YAML refuses is read compacted to
		// one line.
		var b bytes.Buffer
		if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' && json.Compact(&b, t) == nil {
			root, err = decodeYAML(b.Bytes())
		}
		if err != nil {
			return nil, err
		}
	}
	w := &walker{getenv: getenv, lines: map[string]int{}, budget: 64*len(data) + 10000}
	top := root
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if isNull(w.deref(top)) {
		return nil, docError(Problem{Message: "the document is empty (an empty configuration is written {})"})
	}
	generic := w.value("", top, reflect.TypeOf(Document{}), 0)
	if len(w.ps.list) > 0 {
		return nil, w.done()
	}
	text, err := json.Marshal(generic)
	if err != nil {
		w.ps.add("", "%v", err)
		return nil, w.done()
	}
	doc := new(Document)
	jd := json.NewDecoder(bytes.NewReader(text))
	jd.DisallowUnknownFields()
	if err := jd.Decode(doc); err != nil {
		// The walk has checked every field and type already; this is a
		// backstop that names what it can.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			w.ps.add(te.Field, "must be %s", te.Type)
		} else {
			w.ps.add("", "%v", err)
		}
		return nil, w.done()
	}
	w.ps = validate(doc, dir)
	if len(w.ps.list) > 0 {
		return nil, w.done()
	}
	return doc, nil
}

// decodeYAML reads the one YAML document of data.
func decodeYAML(data []byte) (*yaml.Node, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, docError(Problem{Message: "the document is empty (an empty configuration is written {})"})
		}
		return nil, docError(yamlProblem(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, docError(yamlProblem(err))
		}
		return nil, docError(Problem{Message: "the input holds more than one YAML document", Line: extra.Line})
	}
	return &root, nil
}

func docError(p Problem) error { return &DocumentError{Problems: []Problem{p}} }

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlProblem turns a YAML syntax error into a problem with its line.
func yamlProblem(err error) Problem {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{Message: "invalid YAML: " + msg[len(m[0]):], Line: line}
	}
	return Problem{Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// walker turns the YAML tree into values that encoding/json decodes into
// the document's types, checking each field against its type on the way:
// it knows the path of everything, which encoding/json does not tell.
type walker struct {
	getenv func(string) (string, bool)
	ps     problems
	// lines maps the path of each field seen to its line.
	lines map[string]int
	// budget bounds the nodes visited: aliases can make a small text a
	// huge tree ("billion laughs").
	budget int
}

// done returns the problems found, with their lines.
func (w *walker) done() error {
	out := make([]Problem, len(w.ps.list))
	for i, p := range w.ps.list {
		if p.Line == 0 {
			p.Line = w.lineOf(p.Path)
		}
		out[i] = p
	}
	return &DocumentError{Problems: out}
}

// lineOf is the line of path, or of its nearest parent that has one.
func (w *walker) lineOf(path string) int {
	for {
		if l, ok := w.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return w.lines[""]
		}
		path = path[:i]
	}
}

const maxDepth = 64

var (
	rawType    = reflect.TypeOf(json.RawMessage{})
	pluginType = reflect.TypeOf(Plugin{})
)

func (w *walker) deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) == 0
}

// value converts n, expected to hold a t, into a JSON-ready value: nil,
// bool, int64, float64, string, []any or map[string]any.
func (w *walker) value(path string, n *yaml.Node, t reflect.Type, depth int) any {
	n = w.deref(n)
	if n == nil || n.Kind == yaml.AliasNode {
		w.ps.add(path, "an alias that leads nowhere")
		return nil
	}
	if _, seen := w.lines[path]; !seen {
		w.lines[path] = n.Line
	}
	if w.budget--; w.budget < 0 {
		if w.budget == -1 {
			w.ps.add(path, "the document is too large once its aliases are expanded")
		}
		return nil
	}
	if depth > maxDepth {
		w.ps.add(path, "nested too deeply")
		return nil
	}
	if isNull(n) {
		return nil
	}
	if t == rawType || t.Kind() == reflect.Interface {
		return w.generic(path, n, depth)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.value(path, n, t.Elem(), depth)
	case reflect.Struct:
		return w.object(path, n, t, depth)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.ps.add(path, "must be a list, not %s", describe(n))
			return nil
		}
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			out[i] = w.value(fmt.Sprintf("%s[%d]", path, i), c, t.Elem(), depth+1)
		}
		return out
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.ps.add(path, "must be an object, not %s", describe(n))
			return nil
		}
		out := map[string]any{}
		for _, kv := range w.pairs(path, n, depth) {
			p := mapPath(path, kv.key)
			if _, dup := out[kv.key]; dup {
				continue
			}
			out[kv.key] = w.value(p, kv.val, t.Elem(), depth+1)
		}
		return out
	case reflect.String:
		s, _, ok := w.scalar(path, n)
		if !ok {
			return nil
		}
		return s
	case reflect.Bool:
		s, tag, ok := w.scalar(path, n)
		if !ok {
			return nil
		}
		if tag != "!!bool" {
			w.ps.add(path, "must be true or false, not %s", describeTag(tag, n))
			return nil
		}
		var v bool
		if err := (&yaml.Node{Kind: yaml.ScalarNode, Value: s, Tag: "!!bool"}).Decode(&v); err != nil {
			w.ps.add(path, "must be true or false")
			return nil
		}
		return v
	case reflect.Int, reflect.Int64:
		s, tag, ok := w.scalar(path, n)
		if !ok {
			return nil
		}
		if tag != "!!int" {
			w.ps.add(path, "must be an integer, not %s", describeTag(tag, n))
			return nil
		}
		var v int64
		if err := (&yaml.Node{Kind: yaml.ScalarNode, Value: s}).Decode(&v); err != nil {
			w.ps.add(path, "must be an integer that fits in 64 bits")
			return nil
		}
		if t.Kind() == reflect.Int && (v > math.MaxInt32 || v < math.MinInt32) {
			w.ps.add(path, "is out of range")
			return nil
		}
		return v
	}
	w.ps.add(path, "cannot be read (%s)", t)
	return nil
}

// field is one field of a struct type, by its JSON name.
type field struct {
	name string
	typ  reflect.Type
}

// fieldCache holds the fields of each struct type, computed once.
var fieldCache sync.Map // reflect.Type -> []field

func fieldsOf(t reflect.Type) []field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	var fs []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs = append(fs, field{name, f.Type})
	}
	fieldCache.Store(t, fs)
	return fs
}

// object converts a mapping into the fields of struct type t.
func (w *walker) object(path string, n *yaml.Node, t reflect.Type, depth int) any {
	if n.Kind != yaml.MappingNode {
		w.ps.add(path, "must be an object, not %s", describe(n))
		return nil
	}
	fs := fieldsOf(t)
	kvs := w.pairs(path, n, depth)
	out := make(map[string]any, len(kvs))
	// A plugin's config is read by the plugin's type.
	var configType reflect.Type
	if t == pluginType {
		configType = rawType
		for _, kv := range kvs {
			if kv.key == "type" {
				if v := w.deref(kv.val); v != nil && v.Kind == yaml.ScalarNode {
					switch v.Value {
					case "ip_control":
						configType = reflect.TypeOf(config.IPControl{})
					case "traffic_control":
						configType = reflect.TypeOf(trafficControl{})
					}
				}
			}
		}
	}
	for _, kv := range kvs {
		p := join(path, kv.key)
		var ft reflect.Type
		for _, f := range fs {
			if f.name == kv.key {
				ft = f.typ
				break
			}
		}
		if ft == nil {
			p = mapPath(path, kv.key)
			w.lines[p] = kv.line
			w.ps.add(p, "unknown field%s", suggest(kv.key, fs))
			continue
		}
		if configType != nil && kv.key == "config" {
			ft = configType
		}
		out[kv.key] = w.value(p, kv.val, ft, depth+1)
	}
	return out
}

// suggest names the field a misspelt one was probably meant to be, or the
// field that names what an id field of the admin API refers to.
func suggest(key string, fs []field) string {
	for _, id := range []struct{ suffix, plural string }{{"_id", ""}, {"_ids", "s"}} {
		if base, ok := strings.CutSuffix(key, id.suffix); ok {
			for _, f := range fs {
				if f.name == base+id.plural {
					return fmt.Sprintf(" (a document refers to objects by name: did you mean %s?)", f.name)
				}
			}
		}
	}
	lk := strings.ToLower(key)
	best, bestD := "", 3
	for _, f := range fs {
		if d := distance(lk, f.name); d < bestD {
			best, bestD = f.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// distance is the edit distance of a and b, capped at 3.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 3
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], 3)
}

// pair is one key and value of a mapping.
type pair struct {
	key  string
	line int
	val  *yaml.Node
}

// pairs lists the keys of a mapping with their values: explicit keys first,
// then those of merged mappings ("<<: *base") that are not set explicitly.
// A repeated key is a problem.
func (w *walker) pairs(path string, n *yaml.Node, depth int) []pair {
	var out []pair
	seen := map[string]bool{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := w.deref(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			w.ps.add(path, "has a key that is not a string (line %d)", n.Content[i].Line)
			continue
		}
		if k.Tag == "!!merge" || k.Value == "<<" && k.Style == 0 && k.ShortTag() == "!!merge" {
			merges = append(merges, n.Content[i+1])
			continue
		}
		p := mapPath(path, k.Value)
		if seen[k.Value] {
			w.ps.addAt(p, k.Line, "repeats a key given earlier in the object")
			continue
		}
		seen[k.Value] = true
		out = append(out, pair{k.Value, k.Line, n.Content[i+1]})
	}
	for _, m := range merges {
		m = w.deref(m)
		var maps []*yaml.Node
		switch {
		case m != nil && m.Kind == yaml.MappingNode:
			maps = []*yaml.Node{m}
		case m != nil && m.Kind == yaml.SequenceNode:
			for _, c := range m.Content {
				maps = append(maps, w.deref(c))
			}
		}
		for _, mm := range maps {
			if mm == nil || mm.Kind != yaml.MappingNode || depth > maxDepth {
				w.ps.add(path, "merges (<<) something that is not an object")
				continue
			}
			if w.budget -= len(mm.Content); w.budget < 0 {
				continue
			}
			for _, kv := range w.pairs(path, mm, depth+1) {
				if !seen[kv.key] {
					seen[kv.key] = true
					out = append(out, kv)
				}
			}
		}
	}
	return out
}

var wordKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// mapPath is the path of a map entry: headers.X-Trace, or
// claim_headers["a.b"] when the key is not a plain word.
func mapPath(path, key string) string {
	if wordKey.MatchString(key) {
		return join(path, key)
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// scalar returns a scalar's text, ${VAR} replaced, and its YAML type: a
// quoted scalar is a string, a plain one is typed by its text; a value that
// uses a variable is typed by its final text, quoted or not (YAML's flow
// style cannot write {port: ${PORT}} without quotes).
func (w *walker) scalar(path string, n *yaml.Node) (text, tag string, ok bool) {
	if n.Kind != yaml.ScalarNode {
		w.ps.add(path, "must be a single value, not %s", describe(n))
		return "", "", false
	}
	text, used, ok := w.expand(path, n.Value)
	if !ok {
		return "", "", false
	}
	if !used || n.Style&yaml.TaggedStyle != 0 {
		c := yaml.Node{Kind: yaml.ScalarNode, Value: text, Style: n.Style, Tag: n.Tag}
		return text, c.ShortTag(), true
	}
	tag = (&yaml.Node{Kind: yaml.ScalarNode, Value: text}).ShortTag()
	if tag == "!!null" {
		// A variable set to "" is "", not absent.
		tag = "!!str"
	}
	return text, tag, true
}

// generic converts a value whose shape the document does not fix (the
// config of a plugin of an unknown type).
func (w *walker) generic(path string, n *yaml.Node, depth int) any {
	switch n.Kind {
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			out[i] = w.value(fmt.Sprintf("%s[%d]", path, i), c, reflect.TypeOf((*any)(nil)).Elem(), depth+1)
		}
		return out
	case yaml.MappingNode:
		out := map[string]any{}
		for _, kv := range w.pairs(path, n, depth) {
			if _, dup := out[kv.key]; !dup {
				out[kv.key] = w.value(mapPath(path, kv.key), kv.val, reflect.TypeOf((*any)(nil)).Elem(), depth+1)
			}
		}
		return out
	}
	s, tag, ok := w.scalar(path, n)
	if !ok {
		return nil
	}
	switch tag {
	case "!!null":
		return nil
	case "!!bool", "!!int", "!!float":
		var v any
		if err := (&yaml.Node{Kind: yaml.ScalarNode, Value: s, Tag: tag}).Decode(&v); err != nil {
			w.ps.add(path, "%v", err)
			return nil
		}
		if f, isFloat := v.(float64); isFloat && (math.IsInf(f, 0) || math.IsNaN(f)) {
			w.ps.add(path, "must be a finite number")
			return nil
		}
		return v
	}
	return s
}

// describe names the kind of a node for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "an object"
	case yaml.SequenceNode:
		return "a list"
	}
	return describeTag(n.ShortTag(), n)
}

func describeTag(tag string, n *yaml.Node) string {
	switch tag {
	case "!!str", "!!timestamp", "!!binary":
		return "a string"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number with a fraction"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	}
	return "a value tagged " + n.Tag
}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand replaces ${VAR} in s; $${ is a literal ${. used reports whether
// s refers to a variable.
func (w *walker) expand(path, s string) (out string, used, ok bool) {
	if !strings.Contains(s, "${") {
		return s, false, true
	}
	var b strings.Builder
	ok = true
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				w.ps.add(path, "has a ${ without its closing } (write $${ for a literal ${)")
				return "", used, false
			}
			name := s[i+2 : i+2+end]
			i += end + 3
			used = true
			if !varName.MatchString(name) {
				w.ps.add(path, "${%s}: %q is not a variable name (letters, digits and _; write $${ for a literal ${)", name, name)
				ok = false
				continue
			}
			var v string
			found := false
			if w.getenv != nil {
				v, found = w.getenv(name)
			}
			if !found {
				w.ps.add(path, "variable %s is not set", name)
				ok = false
				continue
			}
			b.WriteString(v)
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), used, ok
}
