package jwtauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	rs, _, es, ed := testKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	must(err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	privDER, err := x509.MarshalPKCS8PrivateKey(es.priv)
	must(err)
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(rs.pub.(*rsa.PublicKey))}))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(-time.Minute)} // expired: dates are not checked
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, es.pub, es.priv)
	must(err)
	cert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}))

	pemRS := pemOf(rs.pub)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"rsa pem", Config{PublicKeyPEM: pemRS}, ""},
		{"ec pem", Config{PublicKeyPEM: pemOf(es.pub)}, ""},
		{"ed pem", Config{PublicKeyPEM: pemOf(ed.pub)}, ""},
		{"pkcs1 pem", Config{PublicKeyPEM: pkcs1}, ""},
		{"certificate", Config{PublicKeyPEM: cert}, ""},
		{"jwks https", Config{JWKSURL: "https://idp.example/.well-known/jwks.json"}, ""},
		{"jwks http", Config{JWKSURL: "http://10.0.0.5:8080/jwks"}, ""},
		{"everything", Config{JWKSURL: "https://idp.example/jwks", Issuer: "https://idp.example", Audience: "orders",
			ClaimHeaders: map[string]string{"sub": "X-User-Id", "email": "x-user-email"}}, ""},

		{"neither", Config{}, "auth.jwt: exactly one of public_key_pem and jwks_url"},
		{"both", Config{PublicKeyPEM: pemRS, JWKSURL: "https://idp.example/jwks"}, "auth.jwt: exactly one of public_key_pem and jwks_url"},
		{"not pem", Config{PublicKeyPEM: "hello"}, "auth.jwt.public_key_pem: no PEM public key"},
		{"private key", Config{PublicKeyPEM: privPEM}, "auth.jwt.public_key_pem: is a private key; give the public key only"},
		{"two keys", Config{PublicKeyPEM: pemRS + pemOf(es.pub)}, "auth.jwt.public_key_pem: more than one PEM block; give one public key (a JWKS serves several)"},
		{"small rsa", Config{PublicKeyPEM: pemOf(&small.PublicKey)}, "auth.jwt.public_key_pem: RSA key of 1024 bits; 2048 to 8192 bits are accepted"},
		{"p384", Config{PublicKeyPEM: pemOf(&p384.PublicKey)}, "auth.jwt.public_key_pem: ECDSA key on P-384; only P-256 (ES256) is accepted"},
		{"garbage der", Config{PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("xx")}))},
			"auth.jwt.public_key_pem: the PUBLIC KEY block does not hold a valid key"},
		{"other block", Config{PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "FOO", Bytes: []byte("xx")}))},
			`auth.jwt.public_key_pem: PEM block "FOO" is not a public key`},
		{"jwks ftp", Config{JWKSURL: "ftp://idp.example/jwks"}, "auth.jwt.jwks_url: must be an https:// or http:// URL"},
		{"jwks relative", Config{JWKSURL: "/jwks"}, "auth.jwt.jwks_url: must be an https:// or http:// URL"},
		{"jwks no host", Config{JWKSURL: "https:///jwks"}, "auth.jwt.jwks_url: must be an https:// or http:// URL"},
		{"jwks userinfo", Config{JWKSURL: "https://u:p@idp.example/jwks"}, "auth.jwt.jwks_url: must be an https:// or http:// URL"},
		{"bad header", Config{PublicKeyPEM: pemRS, ClaimHeaders: map[string]string{"sub": "X User"}},
			`auth.jwt.claim_headers["sub"]: "X User" is not a valid header name`},
		{"empty header", Config{PublicKeyPEM: pemRS, ClaimHeaders: map[string]string{"sub": ""}},
			`auth.jwt.claim_headers["sub"]: "" is not a valid header name`},
		{"empty claim", Config{PublicKeyPEM: pemRS, ClaimHeaders: map[string]string{"": "X-A"}},
			`auth.jwt.claim_headers[""]: the claim name is empty`},
		{"reserved header", Config{PublicKeyPEM: pemRS, ClaimHeaders: map[string]string{"sub": "content-length"}},
			`auth.jwt.claim_headers["sub"]: "content-length" cannot carry a claim: the gateway or the HTTP framing owns it`},
		{"same header twice", Config{PublicKeyPEM: pemRS, ClaimHeaders: map[string]string{"sub": "X-User", "uid": "x-user"}},
			`auth.jwt.claim_headers["uid"]: header "x-user" already carries claim "sub"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Validate = %v\nwant       %s", err, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field+": "+fe.Message != tc.want {
				t.Fatalf("not a FieldError with the field: %#v", err)
			}
			if _, err := New(tc.cfg, nil); err == nil || err.Error() != tc.want {
				t.Fatalf("New = %v, want the same error", err)
			}
		})
	}

	many := map[string]string{}
	for i := range MaxClaimHeaders + 1 {
		many[string(rune('a'+i))] = "X-" + string(rune('a'+i))
	}
	if err := (&Config{PublicKeyPEM: pemRS, ClaimHeaders: many}).Validate(); err == nil ||
		err.Error() != "auth.jwt.claim_headers: at most 16 claims" {
		t.Fatalf("too many claims: %v", err)
	}
}

func TestNewNeedsKeysForJWKS(t *testing.T) {
	if _, err := New(Config{JWKSURL: "https://idp.example/jwks"}, nil); err == nil {
		t.Fatal("New without Keys accepted a jwks_url")
	}
}

func TestClaimHeaderNames(t *testing.T) {
	rs, _, _, _ := testKeys(t)
	v, err := New(Config{PublicKeyPEM: pemOf(rs.pub), ClaimHeaders: map[string]string{
		"sub": "x-user-id", "email": "X-User-Email", "admin": "x-admin"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"X-Admin", "X-User-Email", "X-User-Id"}
	got := v.ClaimHeaderNames()
	if !slices.Equal(got, want) {
		t.Fatalf("ClaimHeaderNames = %q, want %q", got, want)
	}
	got[0] = "changed"
	if v.ClaimHeaderNames()[0] != "X-Admin" {
		t.Fatal("ClaimHeaderNames exposes the verifier's own slice")
	}
}
