package snapshot

import (
	"fmt"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/balancer"
	"github.com/portico-gw/portico/internal/config"
	"github.com/portico-gw/portico/internal/health"
	"github.com/portico-gw/portico/internal/router"
	"github.com/portico-gw/portico/internal/upstream"
)

func intp(i int) *int { return &i }

func testChannel(id string, weights ...int) config.Channel {
	c := config.Channel{ID: id, Network: "default", Scheme: "http"}
	for i, w := range weights {
		c.Nodes = append(c.Nodes, config.Node{Host: "127.0.0.1", Port: 10000 + i, Weight: intp(w)})
	}
	if err := config.ValidateChannel(&c); err != nil {
		panic(err)
	}
	return c
}

func testAPI(id, method, path string, b config.Backend) config.API {
	a := config.API{ID: id, Name: id, Frontend: config.Frontend{Method: method, Path: path}, Backend: b}
	if err := config.ValidateAPI(&a); err != nil {
		panic(fmt.Sprintf("%s: %v", id, err))
	}
	return a
}

func mock(body string) config.Backend {
	return config.Backend{Type: "mock", Mock: &config.Mock{Body: body}}
}

func TestLookupByHostAndEnvironment(t *testing.T) {
	shop := config.Service{ID: "svc-shop", Domains: []config.Domain{
		{Host: "shop.example.com"},                           // environment from the path
		{Host: "test.shop.example.com", Environment: "test"}, // pinned
	}}
	other := config.Service{ID: "svc-other"}
	st := &config.State{Revision: 3, Published: []config.Published{
		{Service: shop, Environment: "release", Version: "v2", APIs: []config.API{testAPI("shop-rel", "GET", "/items", mock("shop release"))}},
		{Service: shop, Environment: "test", Version: "v3", APIs: []config.API{testAPI("shop-test", "GET", "/items", mock("shop test"))}},
		{Service: other, Environment: "release", Version: "v1", APIs: []config.API{testAPI("other-rel", "GET", "/other", mock("other"))}},
	}}
	s := (&Builder{Pool: upstream.NewPool()}).Build(st)
	cases := []struct {
		host, path string
		wantAPI    string // "" = not found
		wantPath   string
	}{
		{"gw", "/items", "shop-rel", "/items"},
		{"gw", "/release/items", "shop-rel", "/items"},
		{"gw", "/test/items", "shop-test", "/items"},
		{"gw", "/prepub/items", "", "/items"},
		{"gw", "/other", "other-rel", "/other"},
		{"shop.example.com", "/items", "shop-rel", "/items"},
		{"shop.example.com", "/test/items", "shop-test", "/items"},
		{"shop.example.com", "/other", "", "/other"}, // a custom domain serves its own service only
		{"test.shop.example.com", "/items", "shop-test", "/items"},
		{"test.shop.example.com", "/test/items", "", "/test/items"}, // pinned: no prefix stripped
		{"gw", "/testing/items", "", "/testing/items"},
	}
	for _, c := range cases {
		t.Run(c.host+c.path, func(t *testing.T) {
			var m router.Match
			a, path, res := s.Lookup(c.host, "GET", c.path, &m)
			if c.wantAPI == "" {
				if res != router.NotFound {
					t.Fatalf("got %v (%v), want not found", res, a)
				}
				return
			}
			if res != router.Found || a.ID != c.wantAPI || path != c.wantPath {
				t.Fatalf("got %v api=%v path=%q, want %s %q", res, a, path, c.wantAPI, c.wantPath)
			}
			if a.ServiceID == "" || a.Environment == "" || a.Version == "" {
				t.Fatalf("compiled API misses its origin: %+v", a)
			}
		})
	}
}

func TestBrokenAPIIsDisabledNotTheSnapshot(t *testing.T) {
	good := testAPI("good", "GET", "/good", mock("ok"))
	orphan := testAPI("orphan", "GET", "/orphan", config.Backend{Type: "channel", ChannelID: "ch-gone"})
	st := &config.State{Revision: 1, Published: []config.Published{{
		Service: config.Service{ID: "svc"}, Environment: "release", Version: "v1",
		APIs: []config.API{good, orphan},
	}}}
	s := (&Builder{Pool: upstream.NewPool()}).Build(st)
	if len(s.Problems) != 1 || s.Problems[0].APIID != "orphan" {
		t.Fatalf("problems = %+v, want the orphan API", s.Problems)
	}
	var m router.Match
	if _, _, res := s.Lookup("gw", "GET", "/good", &m); res != router.Found {
		t.Fatal("a healthy API must keep serving next to a broken one")
	}
	if _, _, res := s.Lookup("gw", "GET", "/orphan", &m); res != router.NotFound {
		t.Fatal("the broken API must not be served")
	}
}

// oneChannelState is a configuration of one channel with the given weights and
// one API bound to it.
func oneChannelState(rev int64, weights ...int) *config.State {
	apis := []config.API{testAPI("a", "GET", "/a", config.Backend{Type: "channel", ChannelID: "ch-1"})}
	return &config.State{Revision: rev, Channels: []config.Channel{testChannel("ch-1", weights...)},
		Published: []config.Published{{Service: config.Service{ID: "svc"}, Environment: "release", Version: "v1", APIs: apis}}}
}

func TestBalancerCarriedAcrossUnchangedChannels(t *testing.T) {
	b := &Builder{Pool: upstream.NewPool()}
	s1 := b.Build(oneChannelState(1, 1, 2))
	s2 := b.Build(oneChannelState(2, 1, 2))
	if s1.APIs[0].Channel.Balancer != s2.APIs[0].Channel.Balancer {
		t.Fatal("an unchanged channel must keep its balancer position across snapshots")
	}
	if s1.APIs[0].Channel.Nodes[0].Client != s2.APIs[0].Channel.Nodes[0].Client {
		t.Fatal("an unchanged node must keep its connection pool")
	}
	s3 := b.Build(oneChannelState(3, 2, 2))
	if s3.APIs[0].Channel.Balancer == s2.APIs[0].Channel.Balancer {
		t.Fatal("new weights need a new balancer")
	}
}

func TestAppendBackendPath(t *testing.T) {
	cases := []struct {
		front, back, path, want string
	}{
		{"/users/{id}", "/v1/u/{id}/profile", "/users/42", "/v1/u/42/profile"},
		{"/files", "/store", "/files/a/b", "/store/a/b"},
		{"/files", "/store/", "/files/a", "/store/a"},
		{"/files", "/", "/files/a", "/a"},
		{"/files", "/store", "/files", "/store"},
		{"^~/img", "/images", "/img42", "/images/42"},
		{"=/exact", "/x", "/exact", "/x"},
	}
	for _, c := range cases {
		t.Run(c.front+"->"+c.back+" "+c.path, func(t *testing.T) {
			st := &config.State{Published: []config.Published{{Service: config.Service{ID: "s"}, Environment: "release",
				APIs: []config.API{testAPI("a", "GET", c.front, config.Backend{Type: "mock", Mock: &config.Mock{}, Path: c.back})}}}}
			s := (&Builder{Pool: upstream.NewPool()}).Build(st)
			var m router.Match
			a, path, res := s.Lookup("gw", "GET", c.path, &m)
			if res != router.Found {
				t.Fatalf("lookup %v", res)
			}
			if got := string(a.AppendBackendPath(nil, path, &m)); got != c.want {
				t.Fatalf("backend path %q, want %q", got, c.want)
			}
		})
	}
}

func TestSplitEnv(t *testing.T) {
	for in, want := range map[string][2]string{
		"/test/a":   {"test", "/a"},
		"/test":     {"test", "/"},
		"/prepub/":  {"prepub", "/"},
		"/release":  {"release", "/"},
		"/tests/a":  {"release", "/tests/a"},
		"/":         {"release", "/"},
		"/a/test/b": {"release", "/a/test/b"},
	} {
		env, p := splitEnv(in)
		if env != want[0] || p != want[1] {
			t.Errorf("splitEnv(%q) = %q %q, want %q %q", in, env, p, want[0], want[1])
		}
	}
}

// manyAPIs is a configuration of n APIs over 10 services and one channel.
func manyAPIs(n int) *config.State {
	st := &config.State{Channels: []config.Channel{testChannel("ch-1", 1, 2, 3)}}
	for svc := range 10 {
		p := config.Published{Service: config.Service{ID: fmt.Sprintf("svc-%d", svc)}, Environment: "release", Version: "v1"}
		for i := range n / 10 {
			path := fmt.Sprintf("/s%d/r%d/{id}", svc, i)
			if i%2 == 0 {
				path = fmt.Sprintf("/s%d/r%d", svc, i)
			}
			p.APIs = append(p.APIs, testAPI(fmt.Sprintf("api-%d-%d", svc, i), "GET", path,
				config.Backend{Type: "channel", ChannelID: "ch-1"}))
		}
		st.Published = append(st.Published, p)
	}
	return st
}

// BenchmarkBuild measures how long a configuration change takes to become a
// serving snapshot, by API count.
func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		st := manyAPIs(n)
		b.Run(fmt.Sprintf("apis=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			builder := &Builder{Pool: upstream.NewPool()}
			for range b.N {
				builder.Build(st)
			}
		})
	}
}

// BenchmarkLookup measures host + environment + path resolution by API count.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{100, 10000} {
		s := (&Builder{Pool: upstream.NewPool()}).Build(manyAPIs(n))
		b.Run(fmt.Sprintf("apis=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var m router.Match
			path := fmt.Sprintf("/release/s7/r%d/abc", n/10-1)
			for range b.N {
				if _, _, res := s.Lookup("gw.example.com", "GET", path, &m); res != router.Found {
					b.Fatal(res)
				}
			}
		})
	}
}

func TestPickSkipsDownNodesAndHealthSurvivesRebuilds(t *testing.T) {
	b := &Builder{Pool: upstream.NewPool()}
	s := b.Build(oneChannelState(1, 1, 1, 1))
	ch := s.Channels["ch-1"]
	now := time.Now().UnixNano()
	// The implicit policy: one connection failure takes a node out.
	if !ch.Nodes[1].Health.Failure(health.TCP, "refused", ch.Health) {
		t.Fatal("one refused connection must take the node out")
	}
	for range 30 {
		var tried balancer.Tried
		if i := ch.Pick(&tried, now); i == 1 {
			t.Fatal("a down node was picked while healthy ones remain")
		}
	}
	// New weights, same addresses: the node is still known to be down.
	s2 := b.Build(oneChannelState(2, 2, 2, 2))
	if s2.Channels["ch-1"].Nodes[1].Health != ch.Nodes[1].Health || ch.Nodes[1].Health.State() != health.Unhealthy {
		t.Fatal("a rebuild forgot that a node is down")
	}
	// Every node down: the implicit policy fails open and still tries one.
	for i := range ch.Nodes {
		ch.Nodes[i].Health.Failure(health.TCP, "refused", ch.Health)
	}
	var tried balancer.Tried
	if i := ch.Pick(&tried, now); i < 0 {
		t.Fatal("with every node down a pick must still answer a node")
	}
}

func TestPickWithExplicitHealthCheckAnswersNoNode(t *testing.T) {
	b := &Builder{Pool: upstream.NewPool()}
	st := oneChannelState(1, 1, 1) // two nodes
	st.Channels[0].HealthCheck = &config.HealthCheck{EnablePassiveCheck: true}
	if err := config.ValidateChannel(&st.Channels[0]); err != nil {
		t.Fatal(err)
	}
	ch := b.Build(st).Channels["ch-1"]
	for i := range ch.Nodes {
		ch.Nodes[i].Health.Failure(health.TCP, "refused", ch.Health)
	}
	var tried balancer.Tried
	if i := ch.Pick(&tried, time.Now().UnixNano()); i != -1 {
		t.Fatalf("every node unhealthy under an explicit health_check: pick %d, want -1", i)
	}
	// After unhealthy_timeout one half-open probe goes, then none until
	// it reports.
	later := time.Now().Add(31 * time.Second).UnixNano()
	tried = balancer.Tried{}
	if i := ch.Pick(&tried, later); i < 0 {
		t.Fatal("after unhealthy_timeout a half-open probe must be allowed")
	}
	picks := 0
	for range 10 {
		tried = balancer.Tried{}
		if ch.Pick(&tried, later) >= 0 {
			picks++
		}
	}
	if picks != 1 {
		t.Fatalf("%d more probes while the first is out; want 1 (one per node, two nodes)", picks)
	}
}
