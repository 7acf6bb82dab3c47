package declarative

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestRoundTrip: a gateway holding every kind of object, exported,
// written, read back and applied to an empty gateway, exports the same
// document; and the exported document applied to either gateway changes
// nothing.
func TestRoundTrip(t *testing.T) {
	for _, format := range []Format{YAML, JSON} {
		t.Run(string(format), func(t *testing.T) {
			ctx := context.Background()
			src := openStore(t)
			fill(t, src)
			doc := export(t, src)
			text := marshalT(t, doc, format)

			// What the fixture holds, by name.
			for _, want := range []string{"orders_pool", "secure_pool", "api_cert", "spare_cert", "get_order", "list_orders",
				"ping", "me", "stream", "drafts only", "partner_a", "gold", "silver", "mobile", "web", "office_only", "limits",
				"force_https: true", "jwks_url", "special_apps", "app: mobile", "health_check", "ca_pem", "secret_key: s3cret-partner-a",
				"key_pem: |", "pong $${literal}"} {
				if format == YAML && !strings.Contains(text, want) {
					t.Errorf("the export lacks %q:\n%s", want, text)
				}
			}
			if len(doc.Notes) != 1 || !strings.Contains(doc.Notes[0], "has no name") {
				t.Errorf("notes = %q, want one about the unnamed channel", doc.Notes)
			}

			parsed, err := Parse([]byte(text), "", nil)
			if err != nil {
				t.Fatalf("parse the export: %v\n%s", err, text)
			}
			if again := marshalT(t, parsed, format); again != text {
				t.Fatalf("the export does not read back as itself:\n%s\nvs\n%s", text, again)
			}

			dst := openStore(t)
			p := apply(t, dst, parsed, Options{})
			if p.Empty() {
				t.Fatal("the plan against an empty gateway is empty")
			}
			if got := marshalT(t, export(t, dst), format); got != text {
				t.Errorf("export after apply differs:\n%s\nwant:\n%s", got, text)
			}

			// Applying the export to the gateway it came from changes
			// nothing, except that prune deletes the unnamed channel.
			if p := plan(t, src, parsed, Options{}); !p.Empty() {
				t.Errorf("the export applied to its own gateway plans:\n%s", p)
			}
			p = plan(t, src, parsed, Options{Prune: true})
			if got := texts(p); len(got) != 1 || !strings.HasPrefix(got[0], "- channel ch-") || !strings.Contains(got[0], "unnamed") {
				t.Errorf("prune on the source gateway plans %q, want only the unnamed channel", got)
			}

			// Served versions: shop in test and release, admin in prepub.
			st, err := dst.Load(ctx)
			must(t, err)
			var served []string
			for _, pub := range st.Published {
				served = append(served, pub.Service.Name+"/"+pub.Environment)
			}
			slices.Sort(served)
			if want := []string{"admin/prepub", "shop/release", "shop/test"}; !reflect.DeepEqual(served, want) {
				t.Errorf("served %v, want %v", served, want)
			}
		})
	}
}

// TestIdempotent: the second plan of a document is empty, and applying an
// empty plan writes nothing.
func TestIdempotent(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	doc := parseT(t, exampleDoc(t), exampleEnv)
	first := apply(t, s, doc, Options{Prune: true})
	wantFirst := []string{
		"+ channel orders_pool",
		"+ certificate api_cert",
		"+ key partner_a",
		"+ application mobile",
		"+ service shop",
		"+ api shop/get_order",
		"+ api shop/list_orders",
		"publish service shop to test",
		"publish service shop to release",
		"+ plugin office_only",
		"+ plugin office_only binding shop/release [get_order]",
		"+ usage_plan gold",
		"+ usage_plan gold key partner_a",
		"+ usage_plan gold binding shop/release [get_order, list_orders]",
		"+ application mobile binding shop/release [get_order]",
	}
	if got := texts(first); !reflect.DeepEqual(got, wantFirst) {
		t.Errorf("first plan:\n%s\nwant:\n%s", indent(strings.Join(got, "\n")), indent(strings.Join(wantFirst, "\n")))
	}
	rev := revision(t, s)
	for _, prune := range []bool{false, true} {
		p := plan(t, s, doc, Options{Prune: prune})
		if !p.Empty() {
			t.Fatalf("second plan (prune %v) is not empty:\n%s", prune, p)
		}
		if p.Revision != rev {
			t.Errorf("plan revision %d, want %d", p.Revision, rev)
		}
		must(t, p.Apply(ctx, s))
	}
	if got := revision(t, s); got != rev {
		t.Errorf("applying empty plans moved the revision from %d to %d", rev, got)
	}
	// The same document read again (Parse output is canonical) plans
	// nothing either, and so does the document written and read back.
	again := parseT(t, marshalT(t, doc, YAML), nil)
	if p := plan(t, s, again, Options{Prune: true}); !p.Empty() {
		t.Errorf("re-read document plans:\n%s", p)
	}
}

// TestUpdates: each kind of field change is an update with its diff.
func TestUpdates(t *testing.T) {
	s := openStore(t)
	base := exampleDoc(t)
	apply(t, s, parseT(t, base, exampleEnv), Options{})
	edited := strings.NewReplacer(
		"weight: 10", "weight: 20",
		"retries: 3", "retries: 4",
		"timeout: 15", "timeout: 30",
		"max_requests_per_second: 100", "max_requests_per_second: 200",
		`description: "the mobile app"`, `description: "the app"`,
		"blocks: [10.0.0.0/8]", "blocks: [10.0.0.0/8, 192.0.2.0/24]",
	).Replace(base)
	env := map[string]string{"PARTNER_A_SECRET": "another-secret-1",
		"API_CERT_PEM": exampleEnv["API_CERT_PEM"], "API_KEY_PEM": exampleEnv["API_KEY_PEM"]}
	p := apply(t, s, parseT(t, edited, env), Options{})
	want := []string{
		"~ channel orders_pool: nodes[0].weight 10 -> 20; retries 3 -> 4",
		"~ key partner_a: secret_key (changed)",
		"~ application mobile: description \"the mobile app\" -> \"the app\"",
		"~ api shop/get_order: backend.timeout 15 -> 30",
		"publish service shop to test",
		"publish service shop to release",
		`~ plugin office_only: config.blocks[1] (none) -> "192.0.2.0/24"`,
		"~ usage_plan gold: max_requests_per_second 100 -> 200",
	}
	if got := texts(p); !reflect.DeepEqual(got, want) {
		t.Errorf("plan:\n%s\nwant:\n%s", indent(strings.Join(got, "\n")), indent(strings.Join(want, "\n")))
	}
	if c := p.Changes[0]; c.Op != OpUpdate || c.Kind != "channel" || c.Name != "orders_pool" ||
		!reflect.DeepEqual(c.Diff, []string{"nodes[0].weight 10 -> 20", "retries 3 -> 4"}) {
		t.Errorf("change 0 = %+v", c)
	}
	if p := plan(t, s, parseT(t, edited, env), Options{}); !p.Empty() {
		t.Errorf("second plan:\n%s", p)
	}
}
