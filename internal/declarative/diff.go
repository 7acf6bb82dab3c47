package declarative

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// secretFields are never shown in a diff, only said to change.
var secretFields = map[string]bool{"secret_key": true, "key_pem": true}

// maxValue bounds a value shown in a diff.
const maxValue = 60

// diff lists the fields that differ between two objects of the same type,
// as "path old -> new" (nodes[0].weight 10 -> 20), in the order of the
// type's fields. An absent value is shown as (none).
func diff(old, new any) []string {
	a, err1 := ordered(old)
	b, err2 := ordered(new)
	if err1 != nil || err2 != nil {
		return []string{"(changed)"}
	}
	var out []string
	diffValues("", a, b, &out)
	return out
}

// object is a JSON object with its keys in order.
type object struct {
	keys []string
	vals map[string]any
}

// absent marks a value that one side does not have.
type absentValue struct{}

var absent absentValue

func diffValues(path string, a, b any, out *[]string) {
	if oa, ok := a.(*object); ok {
		if ob, ok := b.(*object); ok {
			keys := append([]string(nil), oa.keys...)
			for _, k := range ob.keys {
				if _, in := oa.vals[k]; !in {
					keys = append(keys, k)
				}
			}
			for _, k := range keys {
				va, ina := oa.vals[k]
				vb, inb := ob.vals[k]
				if !ina {
					va = absent
				}
				if !inb {
					vb = absent
				}
				diffValues(mapPath(path, k), va, vb, out)
			}
			return
		}
	}
	if la, ok := a.([]any); ok {
		if lb, ok := b.([]any); ok {
			for i := 0; i < max(len(la), len(lb)); i++ {
				var va, vb any = absent, absent
				if i < len(la) {
					va = la[i]
				}
				if i < len(lb) {
					vb = lb[i]
				}
				diffValues(fmt.Sprintf("%s[%d]", path, i), va, vb, out)
			}
			return
		}
	}
	if sameValue(a, b) {
		return
	}
	name := path[strings.LastIndexAny(path, ".]")+1:]
	if secretFields[name] || longText(a) || longText(b) {
		*out = append(*out, path+" (changed)")
		return
	}
	*out = append(*out, fmt.Sprintf("%s %s -> %s", path, show(a), show(b)))
}

// longText reports whether v is text too long or too many lines to show
// (PEM): a diff only says it changes.
func longText(v any) bool {
	s, ok := v.(string)
	return ok && (strings.Contains(s, "\n") || utf8.RuneCountInString(s) > maxValue)
}

func sameValue(a, b any) bool {
	x, err1 := json.Marshal(plain(a))
	y, err2 := json.Marshal(plain(b))
	return err1 == nil && err2 == nil && bytes.Equal(x, y) && (a == absent) == (b == absent)
}

// plain turns an ordered value back into one encoding/json writes.
func plain(v any) any {
	switch v := v.(type) {
	case *object:
		m := make(map[string]any, len(v.vals))
		for k, x := range v.vals {
			m[k] = plain(x)
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = plain(x)
		}
		return out
	case absentValue:
		return nil
	}
	return v
}

// show writes a value for a diff line, shortened when long.
func show(v any) string {
	if v == absent {
		return "(none)"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(writeOrdered(v)); err != nil {
		return "?"
	}
	s := strings.TrimSuffix(b.String(), "\n")
	if utf8.RuneCountInString(s) > maxValue {
		r := []rune(s)
		s = string(r[:maxValue-1]) + "…"
	}
	return s
}

// writeOrdered is a value whose objects encoding/json writes in order.
func writeOrdered(v any) any {
	switch v := v.(type) {
	case *object:
		return orderedJSON{v}
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = writeOrdered(x)
		}
		return out
	}
	return v
}

type orderedJSON struct{ o *object }

func (o orderedJSON) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(writeOrdered(o.o.vals[k]))
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// ordered reads the JSON form of v keeping the order of object keys.
func ordered(v any) (any, error) {
	text, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(text))
	d.UseNumber()
	return readValue(d)
}

func readValue(d *json.Decoder) (any, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t {
	case json.Delim('{'):
		o := &object{vals: map[string]any{}}
		for d.More() {
			kt, err := d.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			v, err := readValue(d)
			if err != nil {
				return nil, err
			}
			o.keys = append(o.keys, k)
			o.vals[k] = v
		}
		_, err := d.Token()
		return o, err
	case json.Delim('['):
		out := []any{}
		for d.More() {
			v, err := readValue(d)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		_, err := d.Token()
		return out, err
	}
	return t, nil
}
