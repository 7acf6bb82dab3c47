package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
		DownNodes []struct {
			ChannelID string `json:"channel_id"`
			Addr      string `json:"addr"`
		} `json:"down_nodes"`
	}
	g.admin.do(http.MethodGet, "/status", nil, http.StatusOK, &st)
	if len(st.DownNodes) != 1 || st.DownNodes[0].ChannelID != ch.ID || st.DownNodes[0].Addr != net.JoinHostPort(host, strconv.Itoa(port)) {
		t.Errorf("down_nodes = %+v, want the dead node of %s", st.DownNodes, ch.ID)
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

// TestHotSwapUnderLoad: channel edits and publishes while traffic flows cost
// no request.
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

	// The load runs until the edits are done (about runFor), bounded in
	// count and time should the edits stall.
	const (
		workers      = 8
		maxPerWorker = 20000
		runFor       = 3 * time.Second
		hardLimit    = 20 * time.Second
	)
	var (
		stop     atomic.Bool
		ok, bad  atomic.Int64
		failMu   sync.Mutex
		failures []string
		wg       sync.WaitGroup
	)
	fail := func(s string) {
		bad.Add(1)
		failMu.Lock()
		defer failMu.Unlock()
		if len(failures) < 10 {
			failures = append(failures, s)
		}
	}
	deadline := time.Now().Add(hardLimit)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < maxPerWorker && !stop.Load() && time.Now().Before(deadline); i++ {
				path := "/load"
				if (w+i)%2 == 1 {
					path = "/other/x"
				}
				req, _ := http.NewRequest(http.MethodGet, g.url(path), nil)
				r, err := g.try(req)
				switch {
				case err != nil:
					fail(fmt.Sprintf("GET %s: %v", path, err))
				case r.status != http.StatusOK:
					fail(fmt.Sprintf("GET %s: %s", path, r))
				default:
					ok.Add(1)
				}
			}
		}()
	}

	// 20 channel edits, every one keeping at least one live node, and 10
	// publishes of the other service, spread over the run.
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
	step := runFor / 32
	for i := range 20 {
		ch.Nodes = edits[i%len(edits)]
		a.updateChannel(ch)
		if i%2 == 1 {
			x.Backend.Path = fmt.Sprintf("/v%d", i/2+1)
			x = a.updateAPI(otherSID, x)
			a.publish(otherSID, "release")
		}
		time.Sleep(step)
	}
	stop.Store(true)
	wg.Wait()

	t.Logf("%d calls answered 200 during 20 channel edits and 10 publishes", ok.Load())
	if bad.Load() > 0 {
		t.Fatalf("%d failed calls during hot swaps (first ones: %v)", bad.Load(), failures)
	}
	if ok.Load() < 100 {
		t.Errorf("only %d calls in %s: the load did not overlap the edits", ok.Load(), runFor)
	}
	if e := decodeEcho(t, g.get("/other/x")); e.Path != "/v10/x" {
		t.Errorf("after 10 publishes /other reaches %s, want /v10/x", e.Path)
	}
	for _, b := range []*backend{nA, nB, nC} {
		if b.hits.Load() == 0 {
			t.Errorf("node %s got no traffic during the edits", b.name)
		}
	}
}
