package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"

	"github.com/portico-gw/portico/internal/h1"
)

// maxRequestIDLen bounds a caller-sent X-Request-Id that is kept.
const maxRequestIDLen = 64

// idGen makes request ids: a random per-process prefix and a counter, so
// that ids are unique across restarts and nodes without a random read per
// request.
type idGen struct {
	prefix [16]byte
	n      atomic.Uint64
}

func newIDGen() *idGen {
	g := &idGen{}
	var r [8]byte
	_, _ = rand.Read(r[:])
	hex.Encode(g.prefix[:], r[:])
	return g
}

func (g *idGen) append(dst []byte) []byte {
	dst = append(dst, g.prefix[:]...)
	dst = append(dst, '-')
	n := g.n.Add(1)
	var tmp [16]byte
	const digits = "0123456789abcdef"
	for i := len(tmp) - 1; i >= 0; i-- {
		tmp[i] = digits[n&0xf]
		n >>= 4
	}
	return append(dst, tmp[:]...)
}

// requestID keeps the caller's X-Request-Id when it is short and made of
// safe characters (it is echoed into JSON and logs), else makes one.
func (p *Proxy) requestID(fields []h1.Field, dst []byte) []byte {
	for i := range fields {
		if fields[i].Is("x-request-id") {
			if v := fields[i].Value; len(v) > 0 && len(v) <= maxRequestIDLen && safeID(v) {
				return append(dst, v...)
			}
			break
		}
	}
	return p.ids.append(dst)
}

func safeID(v []byte) bool {
	for _, c := range v {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}
