package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// portico runs the portico command against g's admin API and returns its
// output and exit code.
func (g *gateway) portico(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), append([]string{"PORTICO_ADMIN_URL=http://" + g.adminAddr, "PORTICO_ADMIN_TOKEN=" + g.token}, env...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	t.Fatalf("portico %v: %v", args, err)
	return "", -1
}

const declarativeDoc = `# one file for every environment and cluster
channels:
  - name: orders_pool
    network: default
    scheme: http
    retries: 3
    nodes:
      - {host: 127.0.0.1, port: "${ORDERS_PORT}", weight: 1}
services:
  - name: shop
    environments: [release]
    apis:
      - name: get_order
        frontend: {path: "/orders/{id}", method: GET}
        backend: {type: channel, channel: orders_pool, path: "/v1/orders/{id}"}
      - name: ping
        frontend: {path: /ping, method: GET}
        backend: {type: mock, mock: {body: pong}}
keys:
  - {name: partner_a, secret_id: partner_a_id, secret_key: "${PARTNER_A_SECRET}"}
plugins:
  - name: limit
    type: traffic_control
    config: {window: minute, api_limit: 1000}
    bindings: [{service: shop, environment: release}]
`

// TestDeclarativeApplyDiffExport: apply a document, diff it (nothing to
// change, exit 0), change it (exit 1), export it and apply the export to
// an empty gateway (embedded, and on PostgreSQL), which then serves the same
// calls and exports the same document; a document with an error changes
// nothing.
func TestDeclarativeApplyDiffExport(t *testing.T) {
	t.Parallel()
	be := newBackend(t, "orders")
	a := startGateway(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "portico.yaml")
	if err := os.WriteFile(file, []byte(declarativeDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"ORDERS_PORT=" + strconv.Itoa(be.port), "PARTNER_A_SECRET=s3cret-value-0123456789"}

	out, code := a.portico(t, env, "apply", "-f", file)
	if code != 0 || !strings.Contains(out, "+ channel orders_pool") {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	rev := a.admin.revision()
	if e := decodeEcho(t, a.get("/orders/7")); e.Path != "/v1/orders/7" {
		t.Fatalf("the applied API reaches %s", e.Path)
	}
	// Idempotent: nothing to change, no new revision.
	if out, code := a.portico(t, env, "diff", "-f", file); code != 0 || !strings.Contains(out, "no changes") {
		t.Fatalf("diff after apply: exit %d\n%s", code, out)
	}
	if out, code := a.portico(t, env, "apply", "-f", file); code != 0 || a.admin.revision() != rev {
		t.Fatalf("a second apply: exit %d, revision %d -> %d\n%s", code, rev, a.admin.revision(), out)
	}
	// A changed document: diff exits 1 and names the change; apply
	// --dry-run changes nothing.
	changed := strings.Replace(declarativeDoc, "retries: 3", "retries: 4", 1)
	if err := os.WriteFile(file, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := a.portico(t, env, "diff", "-f", file); code != 1 || !strings.Contains(out, "orders_pool") {
		t.Fatalf("diff of a changed document: exit %d\n%s", code, out)
	}
	if _, code := a.portico(t, env, "apply", "--dry-run", "-f", file); code != 0 || a.admin.revision() != rev {
		t.Fatalf("apply --dry-run: exit %d, revision moved", code)
	}
	// A document with an error: refused whole, naming where.
	bad := strings.Replace(changed, "channel: orders_pool", "channel: nope", 1)
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := a.portico(t, env, "apply", "-f", file); code == 0 || !strings.Contains(out, `services[0].apis[0].backend.channel`) || a.admin.revision() != rev {
		t.Fatalf("a bad reference: exit %d (revision %d, was %d)\n%s", code, a.admin.revision(), rev, out)
	}
	// A missing variable is an error naming it.
	if out, code := a.portico(t, nil, "apply", "-f", file); code == 0 || !strings.Contains(out, "ORDERS_PORT") {
		t.Fatalf("a missing variable: exit %d\n%s", code, out)
	}

	// Export, apply the export to an empty gateway, export again: the same.
	exported, code := a.portico(t, nil, "export")
	if code != 0 || !strings.Contains(exported, "orders_pool") {
		t.Fatalf("export: exit %d\n%s", code, exported)
	}
	efile := filepath.Join(dir, "export.yaml")
	if err := os.WriteFile(efile, []byte(exported), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startGateway(t)
	if out, code := b.portico(t, nil, "apply", "-f", efile); code != 0 {
		t.Fatalf("apply of the export to an empty gateway: exit %d\n%s", code, out)
	}
	again, _ := b.portico(t, nil, "export")
	if again != exported {
		t.Fatalf("export after the round trip differs:\n--- first\n%s\n--- again\n%s", exported, again)
	}
	// And into a gateway on PostgreSQL.
	c := startNode(t, clusterSchema(t))
	if out, code := c.portico(t, nil, "apply", "-f", efile); code != 0 {
		t.Fatalf("apply of the export to a PostgreSQL-backed gateway: exit %d\n%s", code, out)
	}
	if onPG, _ := c.portico(t, nil, "export"); onPG != exported {
		t.Fatalf("export from PostgreSQL differs:\n--- first\n%s\n--- PostgreSQL\n%s", exported, onPG)
	}
	if r := c.get("/ping"); r.status != 200 || string(r.body) != "pong" {
		t.Fatalf("the PostgreSQL-backed gateway answers /ping with %s", r)
	}
	if r := b.get("/ping"); r.status != 200 || string(r.body) != "pong" {
		t.Fatalf("the copied gateway answers /ping with %s", r)
	}
	if e := decodeEcho(t, b.get("/orders/9")); e.Path != "/v1/orders/9" {
		t.Fatalf("the copied gateway reaches %s", e.Path)
	}
}
