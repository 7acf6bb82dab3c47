package certs

import (
	"crypto"
	"crypto/ecdsa"
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, fails only with a *FieldError
// on cert_pem or key_pem, and accepts only a chain whose leaf matches the
// key.
func FuzzParse(f *testing.F) {
	fx := getFixtures(f)
	keyEC := pkcs8(f, fx.leafEC.key)
	chain := chainPEM(fx.leafEC, fx.inter, fx.root)
	f.Add(chain, keyEC)
	f.Add(chainPEM(fx.leafEC), sec1(f, fx.leafEC.key.(*ecdsa.PrivateKey)))
	f.Add(chainPEM(fx.leafRSA, fx.inter), pkcs1(fx.rsa2048))
	f.Add(chainPEM(fx.leafEd), pkcs8(f, fx.ed))
	f.Add(chainPEM(fx.inter, fx.leafEC), keyEC)           // wrong order
	f.Add(chain, pkcs8(f, fx.ed))                         // wrong key
	f.Add(chain[:len(chain)/2], keyEC)                    // truncated
	f.Add(chain+"trailing", keyEC)                        // garbage
	f.Add(keyEC, chain)                                   // swapped
	f.Add(strings.ReplaceAll(chain, "\n", "\r\n"), keyEC) // CRLF
	f.Add("", "")
	f.Add("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n")
	f.Add("-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----", "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n")

	f.Fuzz(func(t *testing.T, certPEM, keyPEM string) {
		p, err := Parse(certPEM, keyPEM)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || (fe.Field != FieldCertPEM && fe.Field != FieldKeyPEM) || fe.Message == "" {
				t.Fatalf("error %#v is not a *FieldError on cert_pem or key_pem", err)
			}
			return
		}
		c := p.Certificate
		if c.Leaf == nil || len(c.Certificate) == 0 || len(c.Certificate) > MaxChainCerts || string(c.Leaf.Raw) != string(c.Certificate[0]) {
			t.Fatal("accepted without a consistent leaf")
		}
		key, ok := c.PrivateKey.(crypto.Signer)
		if !ok || !publicKeysEqual(c.Leaf.PublicKey, key.Public()) {
			t.Fatal("accepted a private key that does not match the leaf")
		}
		for _, h := range p.Hosts {
			if h == "" || h != strings.ToLower(h) || strings.HasSuffix(h, ".") {
				t.Fatalf("host %q not normalised", h)
			}
		}
	})
}
