package declarative

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestVariables: ${VAR} in values, typed by the field in plain scalars,
// inserted verbatim; $${ escapes.
func TestVariables(t *testing.T) {
	env := map[string]string{
		"NET": "vpc-prod", "PORT": "8080", "HOST": "10.0.0.11", "EMPTY": "",
		"DIGITS": "1234567890", "PORT_WEIGHT": "0", "ODD": "a: b # not a comment\n- not a list", "TRUE": "true",
	}
	doc := parseT(t, `
channels:
  - name: pool
    network: ${NET}
    description: "${ODD}"
    scheme: http
    host_header: "${EMPTY}"
    nodes:
      - {host: "${HOST}", port: "${PORT}", weight: 1}
      - host: ${HOST}.nip.io
        port: ${PORT}
        weight: ${PORT_WEIGHT}
services:
  - name: shop
    description: 'costs $$5, not $${PORT}; $${NET} is ${NET}'
    apis:
      - name: a
        frontend: {path: /a, method: GET}
        backend: {type: mock, mock: {body: "$${x} and $$${NET}", headers: {X-Env: "prefix-${NET}-suffix"}}}
keys:
  - name: k
    secret_key: ${DIGITS}
  - {name: l, secret_key: "x${DIGITS}"}
`, env)
	c := doc.Channels[0]
	if c.Network != "vpc-prod" || c.Description != env["ODD"] || c.HostHeader != "" || c.Nodes[0].Host != "10.0.0.11" || c.Nodes[0].Port != 8080 ||
		c.Nodes[1].Host != "10.0.0.11.nip.io" || c.Nodes[1].Port != 8080 || *c.Nodes[1].Weight != 0 {
		t.Errorf("channel = %+v", c)
	}
	s := doc.Services[0]
	if want := "costs $$5, not ${PORT}; ${NET} is vpc-prod"; s.Description != want {
		t.Errorf("description = %q, want %q", s.Description, want)
	}
	m := s.APIs[0].Backend.Mock
	if m.Body != "${x} and $${NET}" || m.Headers["X-Env"] != "prefix-vpc-prod-suffix" {
		t.Errorf("mock = %+v", m)
	}
	if doc.Keys[0].SecretKey != "1234567890" || doc.Keys[1].SecretKey != "x1234567890" {
		t.Errorf("keys = %+v", doc.Keys)
	}
	// Written back, the literal ${ are escaped and the document reads back
	// the same without any variable.
	text := marshalT(t, doc, YAML)
	if !strings.Contains(text, "$${x}") || !strings.Contains(text, "not $${PORT}") {
		t.Errorf("the literal ${ are not escaped:\n%s", text)
	}
	if again := parseT(t, text, nil); !reflect.DeepEqual(again, doc) {
		t.Errorf("read back:\n%+v\nwant:\n%+v", again, doc)
	}

	for _, tc := range []struct{ doc, want string }{
		{`keys: [{name: k, secret_key: "${A}${B}"}]`,
			"keys[0].secret_key: variable A is not set\nkeys[0].secret_key: variable B is not set"},
		{`keys: [{name: k, secret_key: "${A"}]`, "keys[0].secret_key: has a ${ without its closing } (write $${ for a literal ${)"},
		{`keys: [{name: k, secret_key: "${1A}"}]`, `keys[0].secret_key: ${1A}: "1A" is not a variable name (letters, digits and _; write $${ for a literal ${)`},
		{`channels: [{name: a, network: n, scheme: http, nodes: [{host: h, port: "${HOST}", weight: 1}]}]`,
			"channels[0].nodes[0].port: must be an integer, not a string"},
		{`services: [{name: s, domains: [{host: a.example.com, force_https: "${TRUE}"}]}, {name: t, domains: [{host: b.example.com, force_https: "true"}]}]`,
			"services[1].domains[0].force_https: must be true or false, not a string"},
	} {
		_, err := Parse([]byte(tc.doc), "", envLookup(env))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%s):\n%v\nwant:\n%s", tc.doc, err, tc.want)
		}
	}
	// Keys are not expanded.
	_, err := Parse([]byte(`services: [{name: s, apis: [{name: a, frontend: {path: /a, method: GET}, backend: {type: mock, mock: {headers: {"${NET}": x}}}}]}]`), "", envLookup(env))
	if err == nil || !strings.Contains(err.Error(), `invalid header name "${NET}"`) {
		t.Errorf("a ${VAR} in a key: %v", err)
	}
}

// TestPlaceholders: secrets written as ${VAR}, with their values; the
// document reads back the same with them.
func TestPlaceholders(t *testing.T) {
	s := openStore(t)
	fill(t, s)
	doc := export(t, s)
	for _, format := range []Format{YAML, JSON} {
		text, vars, err := MarshalPlaceholders(doc, format)
		must(t, err)
		want := []string{"PORTICO_CERTIFICATE_API_CERT_KEY_PEM", "PORTICO_CERTIFICATE_SPARE_CERT_KEY_PEM",
			"PORTICO_KEY_PARTNER_A_SECRET_KEY", "PORTICO_KEY_PARTNER_B_SECRET_KEY"}
		for _, v := range want {
			if !strings.Contains(string(text), "${"+v+"}") {
				t.Errorf("%s: no placeholder %s", format, v)
			}
		}
		if len(vars) != len(want) || vars["PORTICO_KEY_PARTNER_A_SECRET_KEY"] != "s3cret-partner-a" {
			t.Errorf("vars = %v", vars)
		}
		if strings.Contains(string(text), "s3cret-partner-a") || strings.Contains(string(text), "PRIVATE KEY") {
			t.Errorf("%s: a secret is written:\n%s", format, text)
		}
		if _, err := Parse(text, "", nil); err == nil || !strings.Contains(err.Error(), "variable PORTICO_") {
			t.Errorf("parse without the variables: %v", err)
		}
		back, err := Parse(text, "", envLookup(vars))
		must(t, err)
		if marshalT(t, back, format) != marshalT(t, doc, format) {
			t.Errorf("%s: the document with placeholders does not read back the same", format)
		}
	}
}

// TestCertificateFiles: cert_file and key_file are read relative to the
// document's directory, and only when there is one.
func TestCertificateFiles(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := newCert(t, "files.example.com")
	must(t, os.MkdirAll(filepath.Join(dir, "tls"), 0o700))
	must(t, os.WriteFile(filepath.Join(dir, "tls", "api.crt"), []byte(certPEM), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "tls", "api.key"), []byte(keyPEM), 0o600))
	text := "certificates: [{name: c, cert_file: tls/api.crt, key_file: \"${KEY_DIR}/api.key\"}]\n"
	env := envLookup(map[string]string{"KEY_DIR": filepath.Join(dir, "tls")})
	doc, err := Parse([]byte(text), dir, env)
	must(t, err)
	want := []Certificate{{Name: "c", CertPEM: certPEM, KeyPEM: keyPEM}}
	if !reflect.DeepEqual(doc.Certificates, want) {
		t.Errorf("certificates = %+v", doc.Certificates)
	}
	for _, tc := range []struct{ doc, dir, want string }{
		{text, "", "certificates[0].cert_file: no file can be read here (the document was not read from a file); put the PEM text in cert_pem\n" +
			"certificates[0].key_file: no file can be read here (the document was not read from a file); put the PEM text in key_pem"},
		{"certificates: [{name: c, cert_file: nope.crt, key_pem: x}]", dir, "certificates[0].cert_file: open " + filepath.Join(dir, "nope.crt") + ": no such file or directory"},
		{"certificates: [{name: c, cert_file: tls/api.crt, cert_pem: x, key_pem: x}]", dir, "certificates[0].cert_file: give cert_pem or cert_file, not both"},
		{"certificates: [{name: c, cert_file: tls/api.key, key_file: tls/api.crt}]", dir, "certificates[0].cert_file: "},
		{"certificates: [{name: c, key_pem: x}]", dir, "certificates[0].cert_pem: is required (or cert_file)"},
	} {
		_, err := Parse([]byte(tc.doc), tc.dir, env)
		var de *DocumentError
		if !errors.As(err, &de) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%s) = %v, want %q", tc.doc, err, tc.want)
		}
	}
	// The certificate applies and exports with its PEM text.
	s := openStore(t)
	apply(t, s, doc, Options{})
	if got := export(t, s).Certificates; !reflect.DeepEqual(got, want) {
		t.Errorf("exported %+v", got)
	}
	if p := plan(t, s, doc, Options{}); !p.Empty() {
		t.Errorf("second plan:\n%s", p)
	}
	_ = context.Background()
}
