package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/h1"
)

func fields(kv ...string) []h1.Field {
	var fs []h1.Field
	for i := 0; i+1 < len(kv); i += 2 {
		fs = append(fs, h1.Field{Name: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return fs
}

func TestGRPCTimeout(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"1S", time.Second, true},
		{"100m", 100 * time.Millisecond, true},
		{"5M", 5 * time.Minute, true},
		{"2H", 2 * time.Hour, true},
		{"250u", 250 * time.Microsecond, true},
		{"99999999n", 99999999 * time.Nanosecond, true},
		{"123456789S", 0, false}, // more than 8 digits
		{"S", 0, false},
		{"10", 0, false},
		{"10s", 0, false}, // units are case-sensitive
		{"-1S", 0, false},
		{"1 S", 0, false},
	} {
		got, ok := grpcTimeout(fields("Grpc-Timeout", tc.v))
		if got != tc.want || ok != tc.ok {
			t.Errorf("grpc-timeout %q: %v %v, want %v %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := grpcTimeout(fields("Content-Type", "application/grpc")); ok {
		t.Error("no grpc-timeout field must give no timeout")
	}
}

func FuzzGRPCTimeout(f *testing.F) {
	for _, s := range []string{"1S", "100m", "99999999n", "", "S", "-1S", "1e3S", "0x10S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := grpcTimeout(fields("grpc-timeout", v))
		if !ok {
			return
		}
		if d < 0 || len(v) < 2 || len(v) > 9 || !strings.ContainsAny(v[len(v)-1:], "HMSmun") {
			t.Fatalf("%q accepted as %v", v, d)
		}
	})
}

func TestIsGRPC(t *testing.T) {
	for v, want := range map[string]bool{
		"application/grpc":          true,
		"application/grpc+proto":    true,
		"Application/GRPC+json":     true,
		"application/grpc; x=y":     true,
		"application/grpc-web":      false,
		"application/json":          false,
		"application/grpcx":         false,
		"text/plain; application/g": false,
	} {
		if got := isGRPC(fields("content-type", v)); got != want {
			t.Errorf("content-type %q: %v, want %v", v, got, want)
		}
	}
}

func TestGRPCMessageAndCodes(t *testing.T) {
	if got := grpcMessage("100% sure\né"); got != "100%25 sure%0A%C3%A9" {
		t.Errorf("grpc-message encoding: %q", got)
	}
	for status, code := range map[int]int{401: 16, 403: 7, 404: 5, 405: 12, 413: 8, 429: 8, 426: 9, 502: 14, 503: 14, 504: 4, 500: 13} {
		if got := grpcCode(status); got != code {
			t.Errorf("HTTP %d: gRPC %d, want %d", status, got, code)
		}
	}
}
