package hmacauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

var benchSecret = []byte("0123456789abcdef0123456789abcdef")

// typicalKey is a key-pair request as the cloud gateway's clients send it.
func typicalKey() (*testRequest, []byte) {
	r := newRequest("GET", "/orders/42", []string{
		"Host: api.example.com", "User-Agent: client/1.0", "Accept: application/json",
		"X-Date: " + fixedDate, "Source: my-app",
	}, "")
	names := []string{"x-date", "source"}
	sig := refSign("hmac-sha256", string(benchSecret), refKeyString(r, names))
	return r, []byte(refAuthorization("key-1", "hmac-sha256", names, sig))
}

// typicalApp is an application request with a query and a form body.
func typicalApp() (*testRequest, []byte) {
	r := newRequest("POST", "/orders?channel=web&tag=b&tag=a", []string{
		"Host: api.example.com", "Accept: application/json", "Content-Type: application/x-www-form-urlencoded",
		"X-Date: " + fixedDate, "X-Ca-Nonce: 3f1e0c1a-2b9d-4c55-8a61-0d1e9f8a7b6c",
	}, "item=book&count=2&note=hello+world")
	names := []string{"x-date", "x-ca-nonce"}
	ss, _ := refAppString(r, names)
	return r, []byte(refAuthorization("app-1", "hmac-sha256", names, refSign("hmac-sha256", string(benchSecret), ss)))
}

func BenchmarkParseAuthorization(b *testing.B) {
	_, auth := typicalKey()
	var h Header
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseAuthorization(auth, &h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeySteps is a key-pair request checked step by step through the
// public API, as a front end that wants its own order would: parse, date,
// signing string, verify.
func BenchmarkKeySteps(b *testing.B) {
	r, auth := typicalKey()
	var h Header
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseAuthorization(auth, &h); err != nil {
			b.Fatal(err)
		}
		if err := CheckDate(&h, r, fixedNow, DateWindow); err != nil {
			b.Fatal(err)
		}
		var err error
		if buf, err = KeySigningString(buf[:0], &h, r); err != nil {
			b.Fatal(err)
		}
		if err := Verify(&h, KeyAlgorithms, benchSecret, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckKey(b *testing.B) {
	r, auth := typicalKey()
	var h Header
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseAuthorization(auth, &h); err != nil {
			b.Fatal(err)
		}
		if err := CheckKey(&h, r, benchSecret, fixedNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckApp(b *testing.B) {
	r, auth := typicalApp()
	var h Header
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseAuthorization(auth, &h); err != nil {
			b.Fatal(err)
		}
		if err := CheckApp(&h, r, benchSecret, fixedNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckAppMismatch is the cost of a wrong application signature,
// with the hints tried: what a client sending garbage costs the gateway.
func BenchmarkCheckAppMismatch(b *testing.B) {
	r, _ := typicalApp()
	auth := []byte(refAuthorization("app-1", "hmac-sha256", []string{"x-date"}, refSign("hmac-sha256", "wrong", "x")))
	var h Header
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseAuthorization(auth, &h); err != nil {
			b.Fatal(err)
		}
		if err := CheckApp(&h, r, benchSecret, fixedNow); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkHMAC compares the pooled HMAC with crypto/hmac, which allocates
// a new keyed state per request.
func BenchmarkHMAC(b *testing.B) {
	msg := []byte("x-date: " + fixedDate + "\nsource: my-app")
	b.Run("pooled", func(b *testing.B) {
		a := algorithms[1]
		b.ReportAllocs()
		for b.Loop() {
			st := a.get()
			a.sum(st, benchSecret, msg)
			a.put(st)
		}
	})
	b.Run("crypto-hmac", func(b *testing.B) {
		var out [sha256.Size]byte
		b.ReportAllocs()
		for b.Loop() {
			m := hmac.New(sha256.New, benchSecret)
			m.Write(msg)
			m.Sum(out[:0])
		}
	})
}
