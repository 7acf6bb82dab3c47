package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
)

// TestWeightedDistribution: smooth weighted round robin gives each node
// exactly its weight over any run of sum(weights) calls.
func TestWeightedDistribution(t *testing.T) {
	t.Parallel()
	b1, b2, b3 := newBackend(t, "w1"), newBackend(t, "w2"), newBackend(t, "w3")
	g := startGateway(t)
	ch := g.admin.createChannel(httpChannel(b1.node(1), b2.node(2), b3.node(3)))
	g.admin.publishedService("wrr", channelAPI("wrr", "GET", "/wrr", ch.ID, "/"))

	const calls = 600
	seq := make([]string, 0, calls)
	var c counter
	for range calls {
		name := decodeEcho(t, g.get("/wrr")).Backend
		seq = append(seq, name)
		c.add(name)
	}
	if c.get("w1") != 100 || c.get("w2") != 200 || c.get("w3") != 300 {
		t.Fatalf("600 calls to weights 1/2/3: w1 %d, w2 %d, w3 %d; want 100/200/300",
			c.get("w1"), c.get("w2"), c.get("w3"))
	}
	// Interleaved, not in bursts: every window of 6 consecutive calls holds
	// each node exactly its weight.
	want := map[string]int{"w1": 1, "w2": 2, "w3": 3}
	for i := 0; i+6 <= len(seq); i++ {
		got := map[string]int{}
		for _, n := range seq[i : i+6] {
			got[n]++
		}
		for n, w := range want {
			if got[n] != w {
				t.Fatalf("calls %d-%d went %v: not interleaved by weight", i, i+5, seq[i:i+6])
			}
		}
	}
}

// deadAddr returns a 127.0.0.1 port nothing listens on: a connect to it is
// refused.
func deadAddr(t *testing.T) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().(*net.TCPAddr)
	ln.Close()
	return "127.0.0.1", a.Port
}

// TestDeadNodeCostsNoFailedRequest: a node that refuses connections is
// skipped by the retry; the client never sees it.
func TestDeadNodeCostsNoFailedRequest(t *testing.T) {
	t.Parallel()
	live := newBackend(t, "live")
	host, port := deadAddr(t)
	g := startGateway(t)
	ch := g.admin.createChannel(httpChannel(live.node(1), node{Host: host, Port: port, Weight: 1}))
	g.admin.publishedService("dead", channelAPI("dead", "ANY", "/dead", ch.ID, "/"))

	for i := range 200 {
		r := g.get("/dead")
		if r.status != http.StatusOK {
			t.Fatalf("call %d: %s", i, r)
		}
		if e := decodeEcho(t, r); e.Backend != "live" {
			t.Fatalf("call %d answered by %q", i, e.Backend)
		}
	}
	if n := live.hits.Load(); n != 200 {
		t.Errorf("live node saw %d requests, want 200", n)
	}
	// The refusing node is out of the rotation, and the admin API says so.
	var st struct {
		Nodes []struct {
			ChannelID string `json:"channel_id"`
			Addr      string `json:"addr"`
			State     string `json:"state"`
		} `json:"unhealthy_nodes"`
	}
	g.admin.do(http.MethodGet, "/status", nil, http.StatusOK, &st)
	if len(st.Nodes) != 1 || st.Nodes[0].ChannelID != ch.ID || st.Nodes[0].Addr != net.JoinHostPort(host, strconv.Itoa(port)) || st.Nodes[0].State != "UNHEALTHY" {
		t.Errorf("unhealthy_nodes = %+v, want the dead node of %s", st.Nodes, ch.ID)
	}
	// A failure at connect is retried whatever the method, even for a body
	// too large to replay: it was never sent.
	body := bytes.Repeat([]byte("p"), 1<<20)
	for i := range 4 {
		e := decodeEcho(t, g.call(http.MethodPost, "/dead", bytes.NewReader(body)))
		if e.Backend != "live" || e.BodyLen != int64(len(body)) {
			t.Fatalf("POST %d reached %s with %d bytes, want live with %d", i, e.Backend, e.BodyLen, len(body))
		}
	}
}

// TestHotSwapUnderLoad: 200 configuration writes (channel edits, publishes
// and rollbacks) while traffic flows cost no request.
func TestHotSwapUnderLoad(t *testing.T) {
	t.Parallel()
	nA, nB, nC := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	other := newBackend(t, "other")
	g := startGateway(t)
	a := g.admin
	ch := a.createChannel(httpChannel(nA.node(1), nB.node(1)))
	otherCh := a.createChannel(httpChannel(other.node(1)))
	a.publishedService("load", channelAPI("load", "GET", "/load", ch.ID, "/"))
	otherSID, otherAPIs := a.publishedService("other", channelAPI("other", "GET", "/other", otherCh.ID, "/v0"))

	load := startLoad(g, 8, okJudge, "/load", "/other/x")
	// Every channel edit keeps at least one live node.
	edits := [][]node{
		{nA.node(3), nB.node(1)},
		{nA.node(1), nB.node(1), nC.node(2)},
		{nA.node(2), nC.node(1)},
		{nC.node(1)},
		{nB.node(5), nC.node(1)},
		{nA.node(0), nB.node(1), nC.node(1)},
		{nA.node(1), nB.node(1)},
	}
	x := otherAPIs[0]
	var versions []string
	for _, e := range a.environments(otherSID) {
		if e.Environment == "release" {
			versions = append(versions, e.Version)
		}
	}
	const writes = 200
	publishes, rollbacks := 0, 0
	for w, k := 0, 0; w < writes; k++ {
		ch.Nodes = edits[k%len(edits)]
		a.updateChannel(ch)
		w++
		if k%2 == 0 {
			x.Backend.Path = fmt.Sprintf("/v%d", len(versions))
			x = a.updateAPI(otherSID, x) // a draft edit is a write too
			versions = append(versions, a.publish(otherSID, "release"))
			w += 2
			publishes++
		} else {
			a.rollback(otherSID, "release", versions[k%len(versions)])
			w++
			rollbacks++
		}
	}
	// The last write serves the newest version again.
	last := versions[len(versions)-1]
	a.rollback(otherSID, "release", last)
	res := load.Stop()

	t.Logf("%s during %d writes (channel edits, draft edits, %d publishes, %d rollbacks)", res, writes, publishes, rollbacks)
	if res.Failed > 0 {
		t.Fatalf("%d failed calls during hot swaps (first ones: %v)", res.Failed, res.Failures)
	}
	if res.OK < 100 {
		t.Errorf("only %d calls: the load did not overlap the edits", res.OK)
	}
	if e := decodeEcho(t, g.get("/other/x")); e.Path != fmt.Sprintf("/v%d/x", len(versions)-1) {
		t.Errorf("after the writes /other reaches %s, want /v%d/x", e.Path, len(versions)-1)
	}
	for _, b := range []*backend{nA, nB, nC} {
		if b.hits.Load() == 0 {
			t.Errorf("node %s got no traffic during the edits", b.name)
		}
	}
}
