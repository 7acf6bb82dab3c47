package jwtauth

import (
	"testing"
)

// BenchmarkVerify measures a good token with one claim header, keys cached:
// the cost per request of jwt auth. The signature check dominates; parsing
// and the claims checks (golang-jwt's) come on top.
func BenchmarkVerify(b *testing.B) {
	rs, _, es, ed := testKeys(b)
	headers := map[string]string{"sub": "X-User-Id"}
	for _, k := range []*testKey{rs, es, ed} {
		b.Run(k.method.Alg(), func(b *testing.B) {
			benchVerify(b, pemVerifier(b, k, headers), []byte(sign(b, k, goodClaims(), "")))
		})
	}
	b.Run("RS256-JWKS", func(b *testing.B) {
		srv := newJWKSServer(b, jwksDoc(rs, es, ed))
		keys := newTestKeys(b, srv.Client())
		v := jwksVerifier(b, keys, srv.URL)
		waitLoaded(b, keys, srv.URL)
		benchVerify(b, v, []byte(sign(b, rs, goodClaims(), "")))
	})
	b.Run("refused-alg-none", func(b *testing.B) {
		benchVerify(b, pemVerifier(b, rs, headers), []byte("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."))
	})
}

func benchVerify(b *testing.B, v *Verifier, token []byte) {
	_, wantErr := v.Verify(token, now)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(token, now); (err == nil) != (wantErr == nil) {
			b.Fatal(err)
		}
	}
}
