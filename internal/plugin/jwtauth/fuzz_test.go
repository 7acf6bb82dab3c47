package jwtauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify feeds arbitrary bytes to verifiers of the three test keys. It
// checks Verify never panics, refuses with a known reason, and never accepts
// a token whose signature is not the test key's: every accepted token is
// checked again with golang-jwt's implementation of its algorithm.
func FuzzVerify(f *testing.F) {
	rs, _, es, ed := testKeys(f)
	keys := []*testKey{rs, es, ed}
	headers := map[string]string{"sub": "X-User-Id", "uid": "X-Uid", "aud": "X-Aud"}
	var verifiers []*Verifier
	for _, k := range keys {
		verifiers = append(verifiers, pemVerifier(f, k, headers))
	}

	for _, k := range keys {
		good := sign(f, k, goodClaims(), "")
		f.Add([]byte(good))
		f.Add([]byte(good[:len(good)-3]))
		f.Add([]byte(signRaw(f, k, `{"alg":"`+k.method.Alg()+`","kid":"x"}`,
			claimsJSON(`"uid":[1,{"a":"\"}"}],"aud":["orders","b"],"n":null`))))
		f.Add([]byte(signRaw(f, k, `{"alg":"`+k.method.Alg()+`"}`, `{"exp":1e999,"sub":"\ud800"}`)))
	}
	f.Add([]byte("eyJhbGciOiJub25lIn0.e30."))
	f.Add([]byte("..."))
	f.Add([]byte("e30.e30.e30"))

	reasons := map[string]bool{}
	for _, r := range []string{ReasonMalformed, ReasonAlgorithm, ReasonUnknownKid, ReasonSignature, ReasonExpired,
		ReasonNotYetValid, ReasonNoExpiry, ReasonIssuer, ReasonAudience, ReasonClaim} {
		reasons[r] = true
	}

	f.Fuzz(func(t *testing.T, token []byte) {
		orig := bytes.Clone(token)
		for i, v := range verifiers {
			claims, err := v.Verify(token, now)
			if !bytes.Equal(token, orig) {
				t.Fatal("Verify changed its input")
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || !reasons[e.Reason] {
					t.Fatalf("error %v is not a known *Error", err)
				}
				continue
			}
			k := keys[i]
			dot := bytes.LastIndexByte(token, '.')
			sig, decErr := base64.RawURLEncoding.DecodeString(string(token[dot+1:]))
			if decErr != nil {
				t.Fatalf("accepted a token whose signature does not decode: %q", token)
			}
			if err := k.method.Verify(string(token[:dot]), sig, k.pub); err != nil {
				t.Fatalf("accepted a token not signed by the %s key: %q (%v)", k.method.Alg(), token, err)
			}
			// And golang-jwt agrees it is a valid token of that key.
			if _, err := jwt.Parse(string(token), func(*jwt.Token) (any, error) { return k.pub, nil },
				jwt.WithValidMethods([]string{k.method.Alg()}), jwt.WithTimeFunc(func() time.Time { return now }),
				jwt.WithLeeway(Leeway), jwt.WithIssuer("https://idp.example"), jwt.WithAudience("orders"),
				jwt.WithExpirationRequired()); err != nil {
				t.Fatalf("accepted %q, which golang-jwt refuses: %v", token, err)
			}
			for _, c := range claims {
				if c.Value != "" && (c.Value[0] == ' ' || bytes.ContainsAny([]byte(c.Value), "\r\n\x00")) {
					t.Fatalf("claim header %s: %q", c.Header, c.Value)
				}
			}
		}
	})
}

// FuzzClaims signs arbitrary claims segments with the Ed25519 test key and
// compares Verify's answer with a reference written with encoding/json:
// golang-jwt's claims checks as this package configures them, its error
// mapping and the claim header rules. FuzzVerify cannot reach these with
// mutated claims: their signature would not verify.
func FuzzClaims(f *testing.F) {
	_, _, _, ed := testKeys(f)
	v := pemVerifier(f, ed, map[string]string{"sub": "X-User-Id", "uid": "X-Uid", "exp": "X-Exp", "a\"b": "X-Quote"})
	for _, s := range []string{
		claimsJSON(""),
		claimsJSON(`"uid":[1,{"a":"\"}"}],"aud":["orders","b"],"n":null`),
		claimsJSON(`"uid":1.5e3,"a\"b":"\u00e9\t","x":{"sub":"in"}`),
		claimsJSON(`"sub":"dup"`),
		claimsJSON(`"uid":"\ud800"`),
		`{"exp":1e999}`, `{"exp":"1"}`, `{"exp":2e9,"iss":"https:\/\/idp.example","aud":"orders","s\u0075b":" x"}`,
		`{"exp":1699999970.5,"iss":"https://idp.example","aud":["orders",1]}`, `{"exp":2e9,"nbf":1e19}`,
		`[]`, `"x"`, `{}`, `null`, ` { "exp" : 2e9 , "aud" : [ "orders" ] , "iss" : "https://idp.example" } `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok := signRaw(t, ed, `{"alg":"EdDSA"}`, string(body))
		if len(tok) > MaxTokenBytes {
			return
		}
		got, err := v.Verify([]byte(tok), now)
		wantClaims, wantReason := referenceClaims(v, body)
		gotReason := ""
		if err != nil {
			gotReason = err.(*Error).Reason
		}
		if gotReason != wantReason || (err == nil && !slices.Equal(got, wantClaims)) {
			t.Fatalf("%s:\n got %q %q\nwant %q %q", body, got, gotReason, wantClaims, wantReason)
		}
	})
}

// referenceClaims is what Verify should answer for a validly signed token
// with these claims, written with encoding/json alone.
func referenceClaims(v *Verifier, body []byte) ([]Claim, string) {
	// golang-jwt decodes the claims with a json.Decoder (jwt.WithJSONNumber),
	// which reads the first value and ignores what follows.
	var members map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&members) != nil {
		return nil, ReasonMalformed
	}
	date := func(name string) (float64, bool, bool) { // value, present, ok
		raw, present := members[name]
		if !present {
			return 0, false, true
		}
		n, isNum := raw.(json.Number)
		if !isNum {
			return 0, true, false
		}
		f, err := strconv.ParseFloat(string(n), 64)
		return math.Floor(f), true, err == nil && math.Abs(f) < 1<<62
	}
	exp, hasExp, okExp := date("exp")
	nbf, hasNbf, okNbf := date("nbf")
	t := float64(now.Unix())
	switch {
	case !okExp || !okNbf:
		return nil, ReasonMalformed
	case !hasExp:
		return nil, ReasonNoExpiry
	case t >= exp+30:
		return nil, ReasonExpired
	case hasNbf && t < nbf-30:
		return nil, ReasonNotYetValid
	}
	if iss, _ := members["iss"].(string); iss != v.issuer {
		return nil, ReasonIssuer
	}
	okAud := members["aud"] == v.audience
	if list, isList := members["aud"].([]any); isList {
		okAud = slices.Contains(list, any(v.audience)) &&
			!slices.ContainsFunc(list, func(a any) bool { _, s := a.(string); return !s })
	}
	if !okAud {
		return nil, ReasonAudience
	}
	var out []Claim
	for _, ch := range v.claims {
		switch x := members[ch.claim].(type) {
		case nil:
			continue
		case bool:
			out = append(out, Claim{ch.header, strconv.FormatBool(x)})
		case json.Number:
			s := string(x)
			if strings.ContainsAny(s, ".eE") {
				f, err := strconv.ParseFloat(s, 64)
				if err != nil {
					return nil, ReasonClaim
				}
				s = strconv.FormatFloat(f, 'g', -1, 64)
			}
			out = append(out, Claim{ch.header, s})
		case string:
			if strings.ContainsRune(x, utf8.RuneError) || strings.Trim(x, " \t") != x ||
				strings.ContainsFunc(x, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
				return nil, ReasonClaim
			}
			out = append(out, Claim{ch.header, x})
		default:
			return nil, ReasonClaim
		}
	}
	return out, ""
}
