package proxy

import (
	"strings"
	"testing"

	"github.com/portico-gw/portico/internal/h1"
)

func TestTraceparent(t *testing.T) {
	in := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	out := string(appendTraceparent(nil, []h1.Field{{Name: []byte("Traceparent"), Value: []byte(in)}}))
	v := strings.TrimSuffix(strings.TrimPrefix(out, "traceparent: "), "\r\n")
	if !validTraceparent([]byte(v)) || v[3:35] != in[3:35] || v[36:52] == in[36:52] || v[53:] != "01" {
		t.Fatalf("continued trace %q from %q: want the same trace id, a new span id, the same flags", v, in)
	}
	for _, bad := range []string{"", "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"00-00000000000000000000000000000000-b7ad6b7169203331-01", "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"} {
		out := string(appendTraceparent(nil, []h1.Field{{Name: []byte("traceparent"), Value: []byte(bad)}}))
		v := strings.TrimSuffix(strings.TrimPrefix(out, "traceparent: "), "\r\n")
		if !validTraceparent([]byte(v)) || (len(bad) == 55 && v[3:35] == bad[3:35]) {
			t.Errorf("from %q: %q, want a new valid trace", bad, v)
		}
	}
}

func FuzzTraceparent(f *testing.F) {
	f.Add("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	f.Fuzz(func(t *testing.T, in string) {
		out := string(appendTraceparent(nil, []h1.Field{{Name: []byte("traceparent"), Value: []byte(in)}}))
		v := strings.TrimSuffix(strings.TrimPrefix(out, "traceparent: "), "\r\n")
		if !validTraceparent([]byte(v)) {
			t.Fatalf("from %q the node gets an invalid %q", in, v)
		}
	})
}
