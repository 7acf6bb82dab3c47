package proxy

import (
	"encoding/hex"
	"math/rand/v2"

	"github.com/portico-gw/portico/internal/h1"
)

// traceState is the trace of one request when spans are exported.
type traceState struct {
	on      bool
	traceID [16]byte
	spanID  [8]byte
	sampled bool
}

// parentTrace reads the client's traceparent: its trace id, span id and
// sampled flag, when valid.
func parentTrace(fields []h1.Field) (tid [16]byte, sid [8]byte, sampled, ok bool) {
	for i := range fields {
		if !fields[i].Is("traceparent") {
			continue
		}
		v := fields[i].Value
		if !validTraceparent(v) {
			return tid, sid, false, false
		}
		_, _ = hex.Decode(tid[:], v[3:35])
		_, _ = hex.Decode(sid[:], v[36:52])
		return tid, sid, v[54]&1 == 1, true
	}
	return tid, sid, false, false
}

// appendOwnTraceparent passes on the gateway's own span as the parent.
func appendOwnTraceparent(b []byte, t *traceState) []byte {
	b = append(b, "traceparent: 00-"...)
	b = hex.AppendEncode(b, t.traceID[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, t.spanID[:])
	if t.sampled {
		b = append(b, "-01\r\n"...)
	} else {
		b = append(b, "-00\r\n"...)
	}
	return b
}

// appendTraceparent appends the W3C traceparent the node gets: the
// client's trace continued with a new span id for the gateway's hop, or a
// new trace when the client sent none (or a malformed one). The sampled
// flag is kept; a new trace is marked sampled so that backends with
// parent-based sampling still record it.
func appendTraceparent(b []byte, fields []h1.Field) []byte {
	var in []byte
	for i := range fields {
		if fields[i].Is("traceparent") {
			in = fields[i].Value
			break
		}
	}
	b = append(b, "traceparent: 00-"...)
	if validTraceparent(in) {
		b = append(b, in[3:35]...) // trace id
		b = append(b, '-')
		b = appendHex64(b, nonZero())
		b = append(b, '-')
		b = append(b, in[53:55]...)
	} else {
		b = appendHex64(b, nonZero())
		b = appendHex64(b, rand.Uint64())
		b = append(b, '-')
		b = appendHex64(b, nonZero())
		b = append(b, "-01"...)
	}
	return append(b, "\r\n"...)
}

func nonZero() uint64 {
	for {
		if v := rand.Uint64(); v != 0 {
			return v
		}
	}
}

// validTraceparent accepts version 00: "00-" 32 hex "-" 16 hex "-" 2 hex,
// lower case, ids not all zeros.
func validTraceparent(v []byte) bool {
	if len(v) != 55 || v[0] != '0' || v[1] != '0' || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return false
	}
	zeroTrace, zeroSpan := true, true
	for i, c := range v {
		if i == 2 || i == 35 || i == 52 {
			continue
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
		if c != '0' {
			if i >= 3 && i < 35 {
				zeroTrace = false
			} else if i >= 36 && i < 52 {
				zeroSpan = false
			}
		}
	}
	return !zeroTrace && !zeroSpan
}

func appendHex64(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[v>>uint(shift)&0xf])
	}
	return b
}
