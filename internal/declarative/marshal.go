package declarative

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Format is the text form of a document.
type Format string

// Formats.
const (
	YAML Format = "yaml"
	JSON Format = "json"
)

// ParseFormat reads a format name as a wrapper gets it (a ?format= value, a
// --format flag or a file extension): yaml, yml or json, in any case, with
// or without a leading dot.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimPrefix(s, ".")) {
	case "yaml", "yml":
		return YAML, nil
	case "json":
		return JSON, nil
	}
	return "", fmt.Errorf("unknown document format %q: yaml or json", s)
}

// Marshal writes doc as YAML or JSON: fields in the order of the types
// (name first), objects in the order doc holds them (by name for a document
// from Parse or Export), two-space indents, multi-line text (PEM) as YAML
// literal blocks. A literal ${ in a value is written $${, so that Parse
// reads back the same document.
func Marshal(doc *Document, format Format) ([]byte, error) {
	out, _, err := marshal(doc, format, false)
	return out, err
}

// MarshalPlaceholders is Marshal with every secret replaced by a ${VAR}
// placeholder: keys' secret_key (PORTICO_KEY_<NAME>_SECRET_KEY) and
// certificates' key_pem (PORTICO_CERTIFICATE_<NAME>_KEY_PEM), names upper
// case. It returns the values of the variables, so that the caller can
// keep them elsewhere (a secret store, an env file); Parse with a getenv
// that knows them reads back the same document.
func MarshalPlaceholders(doc *Document, format Format) ([]byte, map[string]string, error) {
	return marshal(doc, format, true)
}

func marshal(doc *Document, format Format, placeholders bool) ([]byte, map[string]string, error) {
	if format != YAML && format != JSON {
		return nil, nil, fmt.Errorf("unknown document format %q: yaml or json", format)
	}
	if doc == nil {
		doc = &Document{}
	}
	text, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, err
	}
	// JSON is YAML: reading it as a YAML tree keeps the fields in order.
	var root yaml.Node
	if err := yaml.Unmarshal(text, &root); err != nil {
		return nil, nil, err
	}
	escape(&root, false)
	vars := map[string]string{}
	if placeholders {
		replaceSecrets(&root, vars)
	}
	var b bytes.Buffer
	if format == JSON {
		writeJSON(&b, &root, "")
		b.WriteByte('\n')
		return b.Bytes(), vars, nil
	}
	blockStyle(&root)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, nil, err
	}
	return b.Bytes(), vars, nil
}

// escape writes each ${ of a string value as $${.
func escape(n *yaml.Node, isKey bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		if !isKey && n.Tag == "!!str" {
			n.Value = strings.ReplaceAll(n.Value, "${", "$${")
		}
	case yaml.MappingNode:
		for i, c := range n.Content {
			escape(c, i%2 == 0)
		}
	default:
		for _, c := range n.Content {
			escape(c, false)
		}
	}
}

// replaceSecrets puts placeholders in place of the secrets of the
// document tree root, and their values in vars.
func replaceSecrets(root *yaml.Node, vars map[string]string) {
	top := root
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	for _, s := range []struct{ section, field, prefix, suffix string }{
		{"keys", "secret_key", "PORTICO_KEY_", "_SECRET_KEY"},
		{"certificates", "key_pem", "PORTICO_CERTIFICATE_", "_KEY_PEM"},
	} {
		list := lookup(top, s.section)
		if list == nil {
			continue
		}
		for _, obj := range list.Content {
			name, secret := lookup(obj, "name"), lookup(obj, s.field)
			if name == nil || secret == nil {
				continue
			}
			v := s.prefix + strings.ToUpper(name.Value) + s.suffix
			for i := 2; ; i++ {
				if _, taken := vars[v]; !taken {
					break
				}
				v = fmt.Sprintf("%s%s%s_%d", s.prefix, strings.ToUpper(name.Value), s.suffix, i)
			}
			// The value was escaped for the text; the variable holds it as
			// it is.
			vars[v] = strings.ReplaceAll(secret.Value, "$${", "${")
			secret.Value = "${" + v + "}"
			secret.Style = 0
		}
	}
}

// lookup returns the value of key in a mapping node.
func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// blockStyle turns the flow style of a tree read from JSON into YAML's
// block style; multi-line strings become literal blocks, and lists of
// one-line values stay on one line ([http, https]).
func blockStyle(n *yaml.Node) {
	n.Style = 0
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!str" && strings.Contains(n.Value, "\n"):
		n.Style = yaml.LiteralStyle
	case inline(n):
		n.Style = yaml.FlowStyle
		for _, c := range n.Content {
			c.Style = 0
		}
		return
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// inline reports whether n is a list of one-line scalars.
func inline(n *yaml.Node) bool {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return false
	}
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode || strings.ContainsAny(c.Value, "\n\r") {
			return false
		}
	}
	return true
}

// writeJSON writes a tree read from JSON back as indented JSON, in order.
func writeJSON(b *bytes.Buffer, n *yaml.Node, indent string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			writeJSON(b, c, indent)
		}
	case yaml.MappingNode:
		if len(n.Content) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteString("{\n")
		for i := 0; i+1 < len(n.Content); i += 2 {
			b.WriteString(indent + "  ")
			writeString(b, n.Content[i].Value)
			b.WriteString(": ")
			writeJSON(b, n.Content[i+1], indent+"  ")
			if i+2 < len(n.Content) {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "}")
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			b.WriteString("[]")
			return
		}
		if inline(n) {
			b.WriteByte('[')
			for i, c := range n.Content {
				if i > 0 {
					b.WriteString(", ")
				}
				writeJSON(b, c, indent)
			}
			b.WriteByte(']')
			return
		}
		b.WriteString("[\n")
		for i, c := range n.Content {
			b.WriteString(indent + "  ")
			writeJSON(b, c, indent+"  ")
			if i+1 < len(n.Content) {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "]")
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			writeString(b, n.Value)
		case "!!null":
			b.WriteString("null")
		default: // numbers and booleans, as encoding/json wrote them
			b.WriteString(n.Value)
		}
	}
}

func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b.Truncate(b.Len() - 1) // Encode's newline
}
