package hmacauth

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DateWindow is how far the signed date may be from the gateway's clock,
// either way. It bounds how long a captured request can be replayed, while
// leaving room for clients whose clocks are a few minutes off.
const DateWindow = 900 * time.Second

// The algorithms each scheme accepts. Applications stop at SHA-256 because
// the cloud gateway's application SDKs offer nothing stronger; key pairs
// accept SHA-384 and SHA-512 too. Do not modify.
var (
	KeyAlgorithms = []string{"hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"}
	AppAlgorithms = []string{"hmac-sha1", "hmac-sha256"}
)

// algorithm is one HMAC construction. The MAC itself is crypto/hmac's: a
// hand-made HMAC would save its few allocations per request (hmac.New
// cannot be re-keyed) at the price of owning cryptographic code.
type algorithm struct {
	name  string
	size  int // digest size
	block int // block size
	new   func() hash.Hash
	pool  sync.Pool // *macState

	// macs keeps keyed crypto/hmac states per secret: hmac.New allocates
	// five objects, but its Reset returns a state to "just keyed", so a
	// pooled state serves the next request with the same secret for free.
	mu   sync.RWMutex
	macs map[string]*sync.Pool // by secret
}

// maxKeyedPools bounds macs: past it the cache starts over, so that a
// flood of distinct secrets cannot grow it without end.
const maxKeyedPools = 4096

// macState is the working memory of one check. It is cleared before it
// goes back to the pool.
type macState struct {
	out [64]byte // the HMAC
	sig [66]byte // the decoded signature (88 base64 characters decode to 66 bytes)
}

var algorithms = [...]*algorithm{
	{name: "hmac-sha1", size: sha1.Size, block: sha1.BlockSize, new: sha1.New},
	{name: "hmac-sha256", size: sha256.Size, block: sha256.BlockSize, new: sha256.New},
	{name: "hmac-sha384", size: sha512.Size384, block: sha512.BlockSize, new: sha512.New384},
	{name: "hmac-sha512", size: sha512.Size, block: sha512.BlockSize, new: sha512.New},
}

// strictBase64 refuses encodings with non-zero padding bits, so that one
// signature has one spelling. Strict returns a new value: make it once.
var strictBase64 = base64.StdEncoding.Strict()

func (a *algorithm) get() *macState {
	if st, ok := a.pool.Get().(*macState); ok {
		return st
	}
	return &macState{}
}

func (a *algorithm) put(st *macState) {
	clear(st.out[:])
	a.pool.Put(st)
}

// sum computes HMAC(key, msg) into st.out.
func (a *algorithm) sum(st *macState, key, msg []byte) []byte {
	p := a.keyed(key)
	m, _ := p.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(a.new, key)
	} else {
		m.Reset()
	}
	m.Write(msg)
	out := m.Sum(st.out[:0])
	p.Put(m)
	return out
}

// keyed is the pool of keyed states for key.
func (a *algorithm) keyed(key []byte) *sync.Pool {
	a.mu.RLock()
	p := a.macs[string(key)]
	a.mu.RUnlock()
	if p != nil {
		return p
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if p = a.macs[string(key)]; p != nil {
		return p
	}
	if a.macs == nil || len(a.macs) >= maxKeyedPools {
		a.macs = map[string]*sync.Pool{}
	}
	p = &sync.Pool{}
	a.macs[string(key)] = p
	return p
}

// decodeSignature decodes sig into st.sig, or reports that it is not the
// base64 of a digest of this algorithm's size.
func (a *algorithm) decodeSignature(st *macState, sig []byte) ([]byte, error) {
	if len(sig) == base64.StdEncoding.EncodedLen(a.size) {
		if n, err := strictBase64.Decode(st.sig[:], sig); err == nil && n == a.size {
			return st.sig[:n], nil
		}
	}
	return nil, fail("signature", "signature is not the standard base64 (with padding) of an "+a.name+" value ("+
		strconv.Itoa(base64.StdEncoding.EncodedLen(a.size))+" characters)")
}

// matches reports whether sig (decoded) is the HMAC of msg under key,
// comparing in constant time so that the time taken says nothing about how
// much of a guessed signature was right.
func (a *algorithm) matches(st *macState, key, msg, sig []byte) bool {
	return hmac.Equal(a.sum(st, key, msg), sig)
}

// pickAlgorithm finds h's algorithm (case-insensitively, as clients differ in
// case) among allowed.
func pickAlgorithm(name []byte, allowed []string) (*algorithm, error) {
	var known *algorithm
	for _, a := range algorithms {
		if equalFold(name, a.name) {
			known = a
			break
		}
	}
	if known != nil {
		for _, s := range allowed {
			if strings.EqualFold(s, known.name) {
				return known, nil
			}
		}
		return nil, fail("algorithm", "algorithm "+known.name+" is not accepted here (accepted: "+acceptedList(allowed)+")")
	}
	return nil, fail("algorithm", "unknown algorithm "+quote(name)+" (accepted: "+acceptedList(allowed)+")")
}

func acceptedList(allowed []string) string {
	var names []string
	for _, s := range allowed {
		for _, a := range algorithms {
			if strings.EqualFold(s, a.name) {
				names = append(names, a.name)
			}
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Verify computes the HMAC of signingString with secret under h.Algorithm,
// which must be one of allowed (KeyAlgorithms or AppAlgorithms), and compares
// it in constant time with h.Signature. An empty secret is refused rather
// than used: anyone can compute a signature with an empty key. Errors are
// *Error with Part "algorithm", "secret" or "signature"; none says what the
// right signature would have been.
func Verify(h *Header, allowed []string, secret, signingString []byte) error {
	a, err := pickAlgorithm(h.Algorithm, allowed)
	if err != nil {
		return err
	}
	if len(secret) == 0 {
		return fail("secret", "no secret to verify the signature with")
	}
	st := a.get()
	defer a.put(st)
	sig, err := a.decodeSignature(st, h.Signature)
	if err != nil {
		return err
	}
	if !a.matches(st, secret, signingString, sig) {
		return fail("signature", "signature mismatch")
	}
	return nil
}

// CheckDate checks the date h signs against now: x-date when it is listed,
// else date. The value must be an IMF-fixdate ("Mon, 30 Nov 2026 10:00:00
// GMT") no more than window away from now, either way; the edges are inside.
// Errors are *Error with Part "headers" (no date listed, or the listed one
// missing from the request) or "date".
func CheckDate(h *Header, r Request, now time.Time, window time.Duration) error {
	name := "x-date"
	if !h.lists(name) {
		name = "date"
		if !h.lists(name) {
			return fail("headers", "the signed headers must include x-date or date")
		}
	}
	v, ok := r.Field(name)
	if !ok {
		return fail("headers", "missing header listed in headers: \""+name+"\"")
	}
	v = trimOWS(v)
	t, ok := parseHTTPDate(v)
	if !ok {
		return fail("date", name+" is not an HTTP date like \"Mon, 30 Nov 2026 10:00:00 GMT\": "+quote(v))
	}
	d := now.Sub(t)
	switch {
	case d > window:
		return fail("date", "date out of window: "+name+" is "+seconds(d)+" s behind the gateway's clock (at most "+seconds(window)+" s allowed)")
	case d < -window:
		return fail("date", "date out of window: "+name+" is "+seconds(-d)+" s ahead of the gateway's clock (at most "+seconds(window)+" s allowed)")
	}
	return nil
}

// seconds renders a duration in whole seconds, rounded up so that a date
// just outside the window never reads as being at its edge.
func seconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

var (
	weekdays = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	months   = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// parseHTTPDate parses an IMF-fixdate (RFC 9110 5.6.7), "Mon, 30 Nov 2026
// 10:00:00 GMT", exactly: names in their usual case, two-digit day, GMT, a
// weekday that matches the date. Written out rather than time.Parse, which
// needs a string (an allocation per request) and ignores the weekday.
func parseHTTPDate(b []byte) (time.Time, bool) {
	if len(b) != 29 || b[3] != ',' || b[4] != ' ' || b[7] != ' ' || b[11] != ' ' || b[16] != ' ' ||
		b[19] != ':' || b[22] != ':' || b[25] != ' ' || string(b[26:]) != "GMT" {
		return time.Time{}, false
	}
	wd := -1
	for i, s := range weekdays {
		if string(b[:3]) == s {
			wd = i
		}
	}
	month := 0
	for i, s := range months {
		if string(b[8:11]) == s {
			month = i + 1
		}
	}
	day, ok1 := digits(b[5:7])
	year, ok2 := digits(b[12:16])
	hour, ok3 := digits(b[17:19])
	minute, ok4 := digits(b[20:22])
	second, ok5 := digits(b[23:25])
	if wd < 0 || month == 0 || !ok1 || !ok2 || !ok3 || !ok4 || !ok5 ||
		day < 1 || hour > 23 || minute > 59 || second > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, 0, time.UTC)
	if t.Day() != day || int(t.Weekday()) != wd { // 31 Nov normalizes to 1 Dec
		return time.Time{}, false
	}
	return t, true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// CheckKey runs every check of a key-pair request in order — algorithm,
// date, listed headers, signature — with the secret of the key named by h.ID
// and the gateway's clock now. It allocates nothing when the request passes.
// On a signature mismatch the *Error carries the signing string the gateway
// built (StringToSign).
func CheckKey(h *Header, r Request, secret []byte, now time.Time) error {
	a, err := pickAlgorithm(h.Algorithm, KeyAlgorithms)
	if err != nil {
		return err
	}
	if err := CheckDate(h, r, now, DateWindow); err != nil {
		return err
	}
	sc := getScratch()
	defer putScratch(sc)
	sc.sts, err = KeySigningString(sc.sts[:0], h, r)
	if err != nil {
		return err
	}
	return a.check(h, secret, sc, nil)
}

// CheckApp runs every check of an application request in order —
// algorithm, x-date listed, date, listed headers, parameters, signature —
// with the secret of the application named by h.ID. It allocates nothing
// when the request passes. On a signature mismatch it rebuilds the signing
// string the ways clients commonly get it wrong (parameters not decoded,
// headers not sorted, no empty line after the headers, Accept added by curl,
// ...) and, if the signature matches one, says so in the Message; the *Error
// also carries the signing string the gateway built (StringToSign).
func CheckApp(h *Header, r Request, secret []byte, now time.Time) error {
	a, err := pickAlgorithm(h.Algorithm, AppAlgorithms)
	if err != nil {
		return err
	}
	if !h.lists("x-date") {
		return fail("headers", "the signed headers must include x-date")
	}
	if err := CheckDate(h, r, now, DateWindow); err != nil {
		return err
	}
	sc := getScratch()
	defer putScratch(sc)
	sc.sts, err = appendApp(sc.sts[:0], h, r, 0, sc)
	if err != nil {
		return err
	}
	return a.check(h, secret, sc, func(st *macState, sig []byte) string {
		return appHint(a, st, h, r, secret, sig, sc)
	})
}

// check verifies the signature of sc.sts. On a mismatch, hint (if any) may
// explain it.
func (a *algorithm) check(h *Header, secret []byte, sc *scratch, hint func(*macState, []byte) string) error {
	if len(secret) == 0 {
		return fail("secret", "no secret to verify the signature with")
	}
	st := a.get()
	defer a.put(st)
	sig, err := a.decodeSignature(st, h.Signature)
	if err != nil {
		return err
	}
	if a.matches(st, secret, sc.sts, sig) {
		return nil
	}
	e := &Error{Part: "signature", Message: "signature mismatch", StringToSign: string(sc.sts)}
	if hint != nil {
		if s := hint(st, sig); s != "" {
			e.Message += "; " + s
		}
	}
	return e
}

// appHints are the common mistakes tried after an application signature
// mismatch, most likely first. Each is one more HMAC, only on failure.
var appHints = [...]struct {
	v    variant
	hint string
}{
	{rawParams, "it matches the query and form parameters signed percent-encoded: sign them decoded"},
	{noEmptyLine, `it matches a signing string without the empty line after the headers: each header ends with "\n" and the parts are joined by "\n"`},
	{listedOrder, "it matches the headers signed in the listed order: sign them sorted by name"},
	{noAccept | noContentType, "it matches Accept and Content-Type signed empty: sign the values sent (curl adds Accept: */*, and with -d Content-Type: application/x-www-form-urlencoded)"},
	{noAccept, "it matches Accept signed empty: sign the Accept value sent (curl adds Accept: */*)"},
	{noContentType, "it matches the request signed without its Content-Type: sign the value sent, and set it yourself (curl -d and urllib add application/x-www-form-urlencoded, which makes the body a form)"},
	{noFormParams, "it matches the form parameters left out: sign them with the query parameters in the last line"},
	{md5ForForm, "it matches Content-MD5 signed for a form body: leave the fifth line empty for forms"},
	{trailingNewline, `it matches the signing string with a trailing "\n": end it with the path and parameters`},
}

// appHint returns the hint of the first common mistake whose signing string
// the signature matches, or "".
func appHint(a *algorithm, st *macState, h *Header, r Request, secret, sig []byte, sc *scratch) string {
	for _, c := range appHints {
		alt, err := appendApp(sc.alt[:0], h, r, c.v, sc)
		sc.alt = alt
		if err != nil || string(alt) == string(sc.sts) {
			continue
		}
		if a.matches(st, secret, alt, sig) {
			return c.hint
		}
	}
	return ""
}

// CheckContentMD5 checks that value, a Content-MD5 field, is the base64 MD5
// of body. The signature covers the field, not the body; a front end that
// has read the body calls this so that a signed Content-MD5 also protects
// the body. MD5 is the cloud gateway's choice, kept for its clients; it is an
// integrity check under the HMAC, not a signature on its own. Errors are
// *Error with Part "content-md5".
func CheckContentMD5(value, body []byte) error {
	sum := md5.Sum(body)
	var enc [24]byte
	base64.StdEncoding.Encode(enc[:], sum[:])
	if string(trimOWS(value)) != string(enc[:]) {
		return fail("content-md5", "Content-MD5 is not the base64 MD5 of the body")
	}
	return nil
}
