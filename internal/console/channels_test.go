package console_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// channelForm is a channel create form with nodes given as host:port:weight.
func channelForm(name string, nodes ...string) url.Values {
	v := url.Values{"name": {name}, "network": {"default"}, "scheme": {"http"}, "op": {"save"},
		"hc_mode": {"implicit"}, "rows": {strconv.Itoa(len(nodes))}}
	for i, n := range nodes {
		p := strings.Split(n, ":")
		pre := "nodes[" + strconv.Itoa(i) + "]."
		v.Set(pre+"host", p[0])
		v.Set(pre+"port", p[1])
		v.Set(pre+"weight", p[2])
	}
	return v
}

func TestChannelCreateListDetail(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	b.signIn()
	st, body := b.post("/console/channels/new", channelForm("orders_pool", "10.0.1.11:8080:10", "10.0.1.12:8080:10", "10.0.1.13:8080:0"))
	if st != http.StatusOK {
		t.Fatalf("create: %d\n%s", st, body)
	}
	mustContain(t, body, "orders_pool", "10.0.1.13", "Created channel orders_pool", "no data", ">off<", "No API uses this channel.")
	st, body = b.get("/console/channels")
	if st != http.StatusOK {
		t.Fatalf("list: %d", st)
	}
	mustContain(t, body, "orders_pool", "2 no data", "1 off", "1 in all")
}
