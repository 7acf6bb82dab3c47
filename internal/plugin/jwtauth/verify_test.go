package jwtauth

import (
	"crypto"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// pemVerifier is a Verifier of k's PEM key expecting goodClaims' issuer and
// audience.
func pemVerifier(tb testing.TB, k *testKey, claimHeaders map[string]string) *Verifier {
	tb.Helper()
	v, err := New(Config{PublicKeyPEM: pemOf(k.pub), Issuer: "https://idp.example", Audience: "orders",
		ClaimHeaders: claimHeaders}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func TestVerifyEachAlgorithm(t *testing.T) {
	rs, rs2, es, ed := testKeys(t)
	for _, k := range []*testKey{rs, es, ed} {
		t.Run(k.method.Alg(), func(t *testing.T) {
			v := pemVerifier(t, k, map[string]string{"sub": "X-User-Id"})
			for _, kid := range []string{"", "-", "whatever"} { // a PEM key serves any kid
				got, err := v.Verify([]byte(sign(t, k, goodClaims(), kid)), now)
				if err != nil {
					t.Fatalf("kid %q: %v", kid, err)
				}
				if want := []Claim{{"X-User-Id", "alice"}}; !slices.Equal(got, want) {
					t.Fatalf("claims = %v, want %v", got, want)
				}
			}
			// Another key of the same type: a valid signature, not ours.
			other := *k
			other.priv = map[*testKey]crypto.Signer{rs: rs2.priv, es: mustEC(), ed: mustEd()}[k]
			_, err := v.Verify([]byte(sign(t, &other, goodClaims(), "")), now)
			wantReason(t, err, ReasonSignature)
		})
	}
}

func TestTimes(t *testing.T) {
	rs, _, _, _ := testKeys(t)
	v := pemVerifier(t, rs, nil)
	for _, tc := range []struct {
		name   string
		edit   func(jwt.MapClaims)
		reason string // "" = accepted
	}{
		{"valid", func(c jwt.MapClaims) {}, ""},
		{"expired", func(c jwt.MapClaims) { c["exp"] = now.Add(-31 * time.Second).Unix() }, ReasonExpired},
		{"expired exactly at leeway", func(c jwt.MapClaims) { c["exp"] = now.Add(-Leeway).Unix() }, ReasonExpired},
		{"expired within leeway", func(c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Second).Unix() }, ""},
		{"fractional exp", func(c jwt.MapClaims) { c["exp"] = float64(now.Unix()) - 28.5 }, ""},
		// golang-jwt truncates NumericDates to the second: 29.5 s ago is 30.
		{"fractional exp truncated", func(c jwt.MapClaims) { c["exp"] = float64(now.Unix()) - 29.5 }, ReasonExpired},
		{"not yet valid", func(c jwt.MapClaims) { c["nbf"] = now.Add(31 * time.Second).Unix() }, ReasonNotYetValid},
		{"nbf within leeway", func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Second).Unix() }, ""},
		{"no nbf", func(c jwt.MapClaims) { delete(c, "nbf") }, ""},
		{"no exp", func(c jwt.MapClaims) { delete(c, "exp") }, ReasonNoExpiry},
		{"exp a string", func(c jwt.MapClaims) { c["exp"] = "1800000000" }, ReasonMalformed},
		{"nbf null", func(c jwt.MapClaims) { c["nbf"] = nil }, ReasonMalformed},
		{"iat in the future is not checked", func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := goodClaims()
			tc.edit(c)
			_, err := v.Verify([]byte(sign(t, rs, c, "")), now)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantReason(t, err, tc.reason)
		})
	}
	// A far but representable exp is a long-lived token. One beyond what
	// golang-jwt converts to a time the same way on every CPU (2^62 s) is
	// malformed, as is one beyond float64; and so is such an nbf.
	tok := signRaw(t, rs, `{"alg":"RS256"}`, `{"iss":"https://idp.example","aud":"orders","exp":1e17}`)
	if _, err := v.Verify([]byte(tok), now); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{`"exp":1e300`, `"exp":-1e300`, `"exp":1e400`, `"exp":2e9,"nbf":-1e19`} {
		tok = signRaw(t, rs, `{"alg":"RS256"}`, `{"iss":"https://idp.example","aud":"orders",`+c+`}`)
		_, err := v.Verify([]byte(tok), now)
		wantReason(t, err, ReasonMalformed)
	}
}

func TestIssuerAudience(t *testing.T) {
	rs, _, _, _ := testKeys(t)
	v := pemVerifier(t, rs, nil)
	for _, tc := range []struct {
		name   string
		edit   func(jwt.MapClaims)
		reason string
	}{
		{"wrong issuer", func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }, ReasonIssuer},
		{"issuer prefix", func(c jwt.MapClaims) { c["iss"] = "https://idp.example/" }, ReasonIssuer},
		{"no issuer", func(c jwt.MapClaims) { delete(c, "iss") }, ReasonIssuer},
		{"issuer not a string", func(c jwt.MapClaims) { c["iss"] = 42 }, ReasonIssuer},
		{"wrong audience", func(c jwt.MapClaims) { c["aud"] = "billing" }, ReasonAudience},
		{"no audience", func(c jwt.MapClaims) { delete(c, "aud") }, ReasonAudience},
		{"audience array without ours", func(c jwt.MapClaims) { c["aud"] = []any{"billing", 7, "ord"} }, ReasonAudience},
		{"audience array with ours", func(c jwt.MapClaims) { c["aud"] = []any{"billing", "orders"} }, ""},
		// golang-jwt refuses an aud array with a non-string element.
		{"audience array with ours and a number", func(c jwt.MapClaims) { c["aud"] = []any{"billing", 7, "orders"} }, ReasonAudience},
		{"audience array empty", func(c jwt.MapClaims) { c["aud"] = []any{} }, ReasonAudience},
		{"audience object", func(c jwt.MapClaims) { c["aud"] = map[string]any{"orders": true} }, ReasonAudience},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := goodClaims()
			tc.edit(c)
			_, err := v.Verify([]byte(sign(t, rs, c, "")), now)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantReason(t, err, tc.reason)
		})
	}

	// Escapes are decoded before comparing: "https:\/\/idp.example" is the
	// issuer as PHP's json_encode writes it.
	tok := signRaw(t, rs, `{"alg":"RS256"}`, `{"iss":"https:\/\/idp.example","aud":["x","\u006frders"],"exp":1800000000}`)
	if _, err := v.Verify([]byte(tok), now); err != nil {
		t.Fatal(err)
	}

	// Without issuer and audience configured, neither is checked.
	open, err := New(Config{PublicKeyPEM: pemOf(rs.pub)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := goodClaims()
	c["iss"], c["aud"] = "anyone", []string{"any"}
	if _, err := open.Verify([]byte(sign(t, rs, c, "")), now); err != nil {
		t.Fatal(err)
	}
}

// TestAlgorithmAttacks covers the tokens that try to choose how they are
// verified.
func TestAlgorithmAttacks(t *testing.T) {
	rs, _, es, ed := testKeys(t)
	pemRS := pemOf(rs.pub)
	v, err := New(Config{PublicKeyPEM: pemRS}, nil)
	if err != nil {
		t.Fatal(err)
	}
	claims := seg(claimsJSON(""))

	// alg none, with and without a signature, in any case.
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		h := seg(`{"alg":"` + alg + `","typ":"JWT"}`)
		for _, sig := range []string{"", "c2ln"} {
			_, err := v.Verify([]byte(h+"."+claims+"."+sig), now)
			wantReason(t, err, ReasonAlgorithm)
		}
	}
	// golang-jwt's own none signer.
	tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, goodClaims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify([]byte(tok), now)
	wantReason(t, err, ReasonAlgorithm)

	// HS256 with the public key's PEM (and DER) as the HMAC secret: the
	// classic confusion, which a verifier that lets alg pick the method
	// accepts.
	for _, secret := range [][]byte{[]byte(pemRS), []byte(strings.TrimSpace(pemRS))} {
		for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
			tok, err := jwt.NewWithClaims(m, goodClaims()).SignedString(secret)
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify([]byte(tok), now)
			wantReason(t, err, ReasonAlgorithm)
		}
	}

	// Other RSA algorithms with the right key: refused, not verified.
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodRS384, jwt.SigningMethodRS512, jwt.SigningMethodPS256} {
		tok, err := jwt.NewWithClaims(m, goodClaims()).SignedString(rs.priv)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify([]byte(tok), now)
		wantReason(t, err, ReasonAlgorithm)
	}

	// Key type and algorithm must match: an ES256 or EdDSA token against
	// the RSA key, an RS256 token against the EC key, RS256 spelled in
	// lower case.
	for _, k := range []*testKey{es, ed} {
		_, err := v.Verify([]byte(sign(t, k, goodClaims(), "")), now)
		wantReason(t, err, ReasonAlgorithm)
	}
	vEC := pemVerifier(t, es, nil)
	_, err = vEC.Verify([]byte(sign(t, rs, goodClaims(), "")), now)
	wantReason(t, err, ReasonAlgorithm)
	_, err = v.Verify([]byte(signRaw(t, rs, `{"alg":"rs256"}`, claimsJSON(""))), now)
	wantReason(t, err, ReasonAlgorithm)

	// A header naming its own key is not followed.
	tok = signRaw(t, es, `{"alg":"ES256","jwk":{"kty":"EC"},"jku":"https://evil.example/jwks"}`, claimsJSON(""))
	_, err = v.Verify([]byte(tok), now)
	wantReason(t, err, ReasonAlgorithm)
}

func TestClaimHeaders(t *testing.T) {
	rs, _, _, _ := testKeys(t)
	v := pemVerifier(t, rs, map[string]string{
		"sub": "X-User-Id", "uid": "X-Uid", "big": "X-Big", "ratio": "X-Ratio", "admin": "X-Admin",
		"name": "X-Name", "missing": "X-Missing", "nothing": "X-Nothing", "exp": "X-Exp",
	})
	tok := signRaw(t, rs, `{"alg":"RS256"}`, claimsJSON(
		`"uid":42,"big":123456789012345678901234567890,"ratio":1.50,"admin":true,"name":"Jos\u00e9 \"J\" M\u00fcller","nothing":null`))
	got, err := v.Verify([]byte(tok), now)
	if err != nil {
		t.Fatal(err)
	}
	want := []Claim{
		{"X-Admin", "true"},
		{"X-Big", "123456789012345678901234567890"},
		{"X-Exp", "1700003600"},
		{"X-Name", `José "J" Müller`},
		{"X-Ratio", "1.5"},
		{"X-Uid", "42"},
		{"X-User-Id", "alice"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("claims\n got %q\nwant %q", got, want)
	}
	// Each claim in its own token, to see each rule alone.
	for _, tc := range []struct {
		claim, json, want string // want "-" = no header; "!" = refused
	}{
		{"uid", `-7`, "-7"},
		{"uid", `1e3`, "1000"},
		{"uid", `2.5e-7`, "2.5e-07"},
		{"uid", `false`, "false"},
		{"uid", `""`, ""},
		{"uid", `null`, "-"},
		{"uid", `[1,2]`, "!"},
		{"uid", `{"a":1}`, "!"},
		{"uid", `"a\r\nX-Admin: true"`, "!"},
		{"uid", `"a\u0000b"`, "!"},
		{"uid", `" admin"`, "!"},
		{"uid", `"admin\t"`, "!"},
		{"uid", "\"\xff\"", "!"},
		{"uid", `"tab\tinside"`, "tab\tinside"},
	} {
		tok := signRaw(t, rs, `{"alg":"RS256"}`, claimsJSON(`"`+tc.claim+`":`+tc.json))
		got, err := v.Verify([]byte(tok), now)
		switch tc.want {
		case "!":
			wantReason(t, err, ReasonClaim)
			continue
		case "-":
			if err != nil {
				t.Fatalf("%s: %v", tc.json, err)
			}
			for _, c := range got {
				if c.Header == "X-Uid" {
					t.Fatalf("%s: sent as %q", tc.json, c.Value)
				}
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.json, err)
		}
		i := slices.IndexFunc(got, func(c Claim) bool { return c.Header == "X-Uid" })
		if i < 0 || got[i].Value != tc.want {
			t.Fatalf("%s: claims %q, want X-Uid %q", tc.json, got, tc.want)
		}
	}

	// No claim headers configured: nil, no allocation for them.
	plain := pemVerifier(t, rs, nil)
	if got, err := plain.Verify([]byte(sign(t, rs, goodClaims(), "")), now); err != nil || got != nil {
		t.Fatalf("Verify = %v, %v; want nil, nil", got, err)
	}
}

func TestMalformed(t *testing.T) {
	rs, _, _, _ := testKeys(t)
	v := pemVerifier(t, rs, map[string]string{"sub": "X-User-Id"})
	good := sign(t, rs, goodClaims(), "")
	parts := strings.Split(good, ".")
	h, c, s := parts[0], parts[1], parts[2]
	std := base64.URLEncoding // with padding
	for _, tc := range []struct {
		name, token, reason string
	}{
		{"empty", "", ReasonMalformed},
		{"one part", h, ReasonMalformed},
		{"two parts", h + "." + c, ReasonMalformed},
		{"four parts", good + ".x", ReasonMalformed},
		{"empty signature", h + "." + c + ".", ReasonSignature},
		{"empty header", "." + c + "." + s, ReasonMalformed},
		{"space", h + ". " + c + "." + s, ReasonMalformed},
		{"newline in signature", h + "." + c + "." + s[:10] + "\n" + s[10:], ReasonMalformed},
		{"padding", std.EncodeToString([]byte(`{"alg":"RS256", "x":1}`)) + "." + c + "." + s, ReasonMalformed},
		{"standard alphabet", h + "." + c + "." + strings.NewReplacer("-", "+", "_", "/").Replace(s), ReasonMalformed},
		{"bad base64 length", h + "." + c + "." + s + "AAA", ReasonMalformed},
		{"header not json", seg("alg=RS256") + "." + c + "." + s, ReasonMalformed},
		{"header array", seg(`["alg","RS256"]`) + "." + c + "." + s, ReasonMalformed},
		{"header no alg", seg(`{"typ":"JWT"}`) + "." + c + "." + s, ReasonMalformed},
		{"header alg number", seg(`{"alg":256}`) + "." + c + "." + s, ReasonMalformed},
		{"header truncated", seg(`{"alg":"RS256"`) + "." + c + "." + s, ReasonMalformed},
		{"too long", h + "." + strings.Repeat("A", MaxTokenBytes) + "." + s, ReasonMalformed},
		{"signature too long", h + "." + c + "." + strings.Repeat("A", 4096), ReasonSignature},
		{"claims tampered", h + "." + seg(strings.Replace(claimsJSON(""), "alice", "admin", 1)) + "." + s, ReasonSignature},
		{"non-canonical spare bits", h + "." + c + "." + s[:len(s)-1] + flipSpareBits(s[len(s)-1]), ReasonMalformed},
		{"signed claims not json", signRaw(t, rs, `{"alg":"RS256"}`, `{"sub":"alice",}`), ReasonMalformed},
		{"signed claims an array", signRaw(t, rs, `{"alg":"RS256"}`, `[1]`), ReasonMalformed},
		{"signed claims a string", signRaw(t, rs, `{"alg":"RS256"}`, `"x"`), ReasonMalformed},
		{"crit", signRaw(t, rs, `{"alg":"RS256","crit":["exp"]}`, claimsJSON("")), ReasonMalformed},
		{"kid not a string", signRaw(t, rs, `{"alg":"RS256","kid":7}`, claimsJSON("")), ReasonMalformed},
		{"header null", seg(`null`) + "." + c + "." + s, ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify([]byte(tc.token), now)
			wantReason(t, err, tc.reason)
		})
	}
	// A big header (an x5c chain) is read like any other.
	big := `{"alg":"RS256","x5c":["` + strings.Repeat("A", 3000) + `"]}`
	if _, err := v.Verify([]byte(signRaw(t, rs, big, claimsJSON(`"pad":"`+strings.Repeat("p", 3000)+`"`))), now); err != nil {
		t.Fatal(err)
	}
}

// flipSpareBits sets a spare bit of the last character of a 256-byte
// signature (which uses only its top two bits): a lenient decoder reads the
// same signature from it.
func flipSpareBits(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i|1])
}

func TestBearerToken(t *testing.T) {
	for in, want := range map[string]string{
		"Bearer abc.def.ghi":  "abc.def.ghi",
		"bearer abc":          "abc",
		"BEARER   abc  ":      "abc",
		"Bearer ":             "",
		"Bearer":              "",
		"Basic dXNlcjpwdw==":  "",
		"Bearerabc":           "",
		"":                    "",
		"Bearer\tabc":         "",
		"Token abc.def.ghi  ": "",
	} {
		got, ok := BearerToken([]byte(in))
		if string(got) != want || ok != (want != "") {
			t.Errorf("BearerToken(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestErrorText(t *testing.T) {
	if got := (&Error{ReasonExpired}).Error(); got != "jwtauth: token expired" {
		t.Fatal(got)
	}
}
