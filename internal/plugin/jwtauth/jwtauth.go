// Package jwtauth authenticates requests by a JSON Web Token in
// "Authorization: Bearer <token>" (an API's auth {"type": "jwt"}).
//
// Tokens are parsed and their signatures verified by golang-jwt
// (github.com/golang-jwt/jwt/v5), which also checks "exp", "nbf", "iss" and
// "aud". This package chooses the key, configures the parser, maps its
// errors to short reasons, and turns claims into headers. Only the JWK Set
// documents are read here (golang-jwt has no JWK support), with
// encoding/json, into the standard library's key types.
//
// What is accepted, and why:
//
//   - Signatures: RS256 (RSA 2048–8192 bits), ES256 (P-256) and EdDSA
//     (Ed25519), nothing else. Each key is bound to the one algorithm its
//     type allows when it is loaded, and a token's "alg" must name it: the
//     parser is given only that algorithm (jwt.WithValidMethods; with a JWKS,
//     the three, and the key the kid selects must be of the token's), so
//     "none", HS256 (the classic attack signs with the public key as an HMAC
//     secret) and an RS256 token checked against an EC key are all refused as
//     "algorithm not allowed" before any signature work. Keys come only from
//     the configuration (one PEM key, or a JWKS URL); a token's own "jku",
//     "x5u" or "jwk" header is never followed. A header with "crit" is
//     refused, since no extension is understood here (RFC 7515 4.1.11).
//   - Claims are checked only once the signature verifies, so an unsigned
//     token learns nothing about the claims checks ("signature invalid", never
//     "token expired", for a forged expired token). A segment that is not
//     base64url or JSON is "malformed token" whether or not it is signed.
//   - "exp" is required: a token without one would be a bearer credential
//     for ever. "exp" and "nbf" allow 30 s of clock skew, and golang-jwt
//     truncates them to whole seconds (a fractional "exp" ends up to a second
//     early). A date beyond ±2^62 s is refused as malformed: golang-jwt's
//     conversion of such a number to a time depends on the CPU. "iss" must
//     equal the configured issuer and "aud" must be, or contain, the
//     configured audience, when these are configured; an "aud" array with a
//     non-string element is refused. "iat" is not checked: RFC 7519 gives it
//     no validity meaning.
//   - Strict encoding: base64url without padding or line breaks and with
//     zero spare bits (jwt.WithStrictDecoding, plus a check of the alphabet
//     here, because encoding/base64 skips CR and LF), "alg" matched
//     case-sensitively. A member given twice is not detected: encoding/json
//     keeps the last one.
//   - With a PEM key the token's kid is ignored (one key has no id to
//     match). With a JWKS the kid selects the key; a token without kid is
//     served only when one key of its algorithm is published.
//
// Claims are passed to the backend in headers (claim_headers): strings as
// they are, integers as written, other numbers in Go's shortest form, booleans
// as true/false; a missing or null claim sends no header. A mapped claim that
// cannot be sent faithfully — an object or an array, or a string with a
// control character, invalid UTF-8 (which encoding/json turns into U+FFFD, so
// any U+FFFD is refused), or leading or trailing whitespace (which header
// parsers strip, so " admin" would arrive as "admin") — makes the token
// refused ("claim cannot be sent as a header") rather than silently dropped,
// because a backend that trusts the gateway may take a missing identity
// header for an anonymous or default user. The caller must remove the
// client's own copies of these headers (ClaimHeaderNames), or any client
// could claim any identity.
package jwtauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Config is the "jwt" member of an API's auth: where the verification keys
// come from (exactly one of PublicKeyPEM and JWKSURL), the issuer and
// audience tokens must carry, and which claims go to the backend in which
// header.
type Config struct {
	PublicKeyPEM string            `json:"public_key_pem,omitempty"`
	JWKSURL      string            `json:"jwks_url,omitempty"`
	Issuer       string            `json:"issuer,omitempty"`
	Audience     string            `json:"audience,omitempty"`
	ClaimHeaders map[string]string `json:"claim_headers,omitempty"`
}

// Limits.
const (
	// Leeway is the clock skew allowed on "exp" and "nbf": the gateway's
	// clock and the issuer's are never exactly equal, and a token refused
	// one second after it was issued looks like a broken login.
	Leeway = 30 * time.Second

	// MaxTokenBytes bounds the token read, well above real tokens (a few
	// KiB with many claims) and below the proxy's 32 KiB head limit.
	MaxTokenBytes = 16 << 10

	// MaxClaimHeaders bounds claim_headers; each is a header on every
	// request to the backend.
	MaxClaimHeaders = 16
)

// FieldError is a configuration error of one field, named by its path in
// the API's JSON ("auth.jwt.jwks_url"), so that the admin API can point at
// it. Error returns "<field>: <message>".
type FieldError struct {
	Field   string
	Message string
}

// Error returns the field path and the message.
func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// reservedHeaders cannot carry claims: they frame the request (a claim in
// Content-Length or Transfer-Encoding would let a token holder smuggle
// requests), are hop-by-hop, describe the body, carry credentials, or are
// set by the gateway itself.
var reservedHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Upgrade": true, "Expect": true,
	"Content-Type": true, "Content-Encoding": true, "Authorization": true, "Cookie": true,
	"X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true, "X-Request-Id": true,
}

// Validate checks c as the admin API does before storing it. Errors are
// *FieldError naming the field, e.g. "auth.jwt.public_key_pem: no PEM public
// key". It does not contact the JWKS URL: an identity provider that is down
// while an API is edited must not block the edit.
func (c *Config) Validate() error {
	_, err := c.compile()
	return err
}

// compiled is a validated Config in the form Verify uses.
type compiled struct {
	static *publicKey    // the PEM key, or nil for a JWKS
	claims []claimHeader // sorted by header name
}

// claimHeader maps one claim to the header that carries it.
type claimHeader struct {
	claim, header string
}

func (c *Config) compile() (*compiled, error) {
	out := &compiled{}
	switch {
	case (c.PublicKeyPEM == "") == (c.JWKSURL == ""):
		return nil, fieldErr("auth.jwt", "exactly one of public_key_pem and jwks_url")
	case c.PublicKeyPEM != "":
		k, err := parsePEMKey(c.PublicKeyPEM)
		if err != nil {
			return nil, fieldErr("auth.jwt.public_key_pem", "%s", err.Error())
		}
		out.static = k
	default:
		if !validJWKSURL(c.JWKSURL) {
			return nil, fieldErr("auth.jwt.jwks_url", "must be an https:// or http:// URL")
		}
	}
	if len(c.ClaimHeaders) > MaxClaimHeaders {
		return nil, fieldErr("auth.jwt.claim_headers", "at most %d claims", MaxClaimHeaders)
	}
	// Sorted, so that the same configuration always reports the same error
	// and Verify returns its headers in a stable order.
	claims := make([]string, 0, len(c.ClaimHeaders))
	for claim := range c.ClaimHeaders {
		claims = append(claims, claim)
	}
	slices.Sort(claims)
	byHeader := make(map[string]string, len(claims))
	for _, claim := range claims {
		field := fmt.Sprintf("auth.jwt.claim_headers[%q]", claim)
		name := c.ClaimHeaders[claim]
		switch {
		case claim == "":
			return nil, fieldErr(field, "the claim name is empty")
		case !isToken(name):
			return nil, fieldErr(field, "%q is not a valid header name", name)
		}
		canon := http.CanonicalHeaderKey(name)
		if reservedHeaders[canon] {
			return nil, fieldErr(field, "%q cannot carry a claim: the gateway or the HTTP framing owns it", name)
		}
		if other, dup := byHeader[canon]; dup {
			return nil, fieldErr(field, "header %q already carries claim %q", name, other)
		}
		byHeader[canon] = claim
		out.claims = append(out.claims, claimHeader{claim: claim, header: canon})
	}
	slices.SortFunc(out.claims, func(a, b claimHeader) int {
		if a.header < b.header {
			return -1
		}
		if a.header > b.header {
			return 1
		}
		return 0
	})
	return out, nil
}

// validJWKSURL accepts absolute http and https URLs with a host. Plain http
// is allowed for identity providers inside the private network; the keys are
// then only as trustworthy as that network.
func validJWKSURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" &&
		u.User == nil && len(s) <= 2048
}

// isToken reports whether s is a valid HTTP field name (RFC 9110 5.1).
func isToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenByte[s[i]] {
			return false
		}
	}
	return true
}

var tokenByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// b64url marks the base64url alphabet. Tokens are checked against it before
// golang-jwt decodes them, because encoding/base64 skips CR and LF even in
// strict mode, which would give one signature many spellings.
var b64url = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	t['-'], t['_'] = true, true
	return t
}()

// Verifier is one compiled jwt auth config, immutable and safe for
// concurrent use; it belongs to a snapshot and is rebuilt with it.
type Verifier struct {
	static   *publicKey // the PEM key, or nil
	set      *keySet    // the JWKS, or nil
	issuer   string
	audience string
	methods  []string           // the algorithms the parser accepts
	opts     []jwt.ParserOption // the parser's options but the clock
	claims   []claimHeader      // sorted by header
	names    []string           // claims' headers, in the same order
}

// New compiles cfg. A JWKS URL is looked up in keys, which fetches it in
// the background if no other verifier uses it yet; New never waits for the
// network, so building a snapshot is not held up by an identity provider.
func New(cfg Config, keys *Keys) (*Verifier, error) {
	c, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	v := &Verifier{
		static:   c.static,
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		claims:   c.claims,
	}
	for _, ch := range c.claims {
		v.names = append(v.names, ch.header)
	}
	if c.static != nil {
		v.methods = []string{c.static.alg}
	} else {
		if keys == nil {
			return nil, errors.New("jwtauth: a jwks_url needs a Keys")
		}
		if v.set, err = keys.acquire(v, cfg.JWKSURL); err != nil {
			return nil, err
		}
		// The key the kid selects narrows this to its own algorithm (keyFor).
		v.methods = allAlgs
	}
	v.opts = []jwt.ParserOption{
		jwt.WithValidMethods(v.methods),
		jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithStrictDecoding(),
		jwt.WithJSONNumber(), // numbers as written, for the claim headers
	}
	if v.issuer != "" {
		v.opts = append(v.opts, jwt.WithIssuer(v.issuer))
	}
	if v.audience != "" {
		v.opts = append(v.opts, jwt.WithAudience(v.audience))
	}
	return v, nil
}

// ClaimHeaderNames lists the headers Verify may set, in canonical form and
// in the order Verify returns them. The caller must remove every client copy
// of these headers from each request to the API — whether or not the token
// carries the claim — or a client could send its own X-User-Id. The slice is
// a copy.
func (v *Verifier) ClaimHeaderNames() []string {
	return slices.Clone(v.names)
}

// Claim is one header to send to the backend: a claim's value in the header
// that claim_headers names.
type Claim struct{ Header, Value string }

// Error is a refused token. Reason is one of the Reason constants, short
// and safe to show to the client (it never echoes token content).
type Error struct{ Reason string }

// Error returns the reason, prefixed with the package name.
func (e *Error) Error() string { return "jwtauth: " + e.Reason }

// Reasons a token is refused. All but ReasonKeysUnavailable are the
// client's (answer 401); ReasonKeysUnavailable means the gateway could not
// load the JWKS, which the client cannot fix (a 503 says so).
const (
	ReasonMissing         = "missing bearer token" // for callers: no Authorization: Bearer
	ReasonMalformed       = "malformed token"
	ReasonAlgorithm       = "algorithm not allowed"
	ReasonUnknownKid      = "unknown key id"
	ReasonSignature       = "signature invalid"
	ReasonExpired         = "token expired"
	ReasonNotYetValid     = "token not yet valid"
	ReasonNoExpiry        = "token has no expiry"
	ReasonIssuer          = "wrong issuer"
	ReasonAudience        = "wrong audience"
	ReasonClaim           = "claim cannot be sent as a header"
	ReasonKeysUnavailable = "signing keys not available"
)

// Shared errors: what Verify returns is one of these. Callers must not
// modify them.
var (
	errMalformed       = &Error{ReasonMalformed}
	errAlgorithm       = &Error{ReasonAlgorithm}
	errUnknownKid      = &Error{ReasonUnknownKid}
	errSignature       = &Error{ReasonSignature}
	errExpired         = &Error{ReasonExpired}
	errNotYetValid     = &Error{ReasonNotYetValid}
	errNoExpiry        = &Error{ReasonNoExpiry}
	errIssuer          = &Error{ReasonIssuer}
	errAudience        = &Error{ReasonAudience}
	errClaim           = &Error{ReasonClaim}
	errKeysUnavailable = &Error{ReasonKeysUnavailable}
)

// BearerToken returns the token of an Authorization header value
// ("Bearer <token>", the scheme in any case as RFC 9110 11.1 allows); false
// when the value is not a bearer credential.
func BearerToken(authorization []byte) ([]byte, bool) {
	const scheme = "bearer "
	if len(authorization) <= len(scheme) {
		return nil, false
	}
	for i := 0; i < len(scheme); i++ {
		if authorization[i]|0x20 != scheme[i] {
			return nil, false
		}
	}
	t := authorization[len(scheme):]
	for len(t) > 0 && t[0] == ' ' {
		t = t[1:]
	}
	for len(t) > 0 && (t[len(t)-1] == ' ' || t[len(t)-1] == '\t') {
		t = t[:len(t)-1]
	}
	return t, len(t) > 0
}

// Verify checks token (the bytes after "Bearer ") at now. On success it
// returns the claim headers to send, in the order of ClaimHeaderNames (nil
// when none apply); otherwise the error is an *Error.
//
// With a JWKS, a token is served from the cached keys without waiting. A
// token whose kid is not cached (or any token, before the first successful
// fetch) asks for a refresh; if one may start (at most one per URL every 30
// s) or is already running, Verify waits for it up to 2 s, so the first
// token signed with a freshly rotated key is accepted rather than refused.
// Otherwise it is refused at once, which bounds what a flood of made-up kids
// costs: no more than one fetch per 30 s, and no waiting between fetches.
func (v *Verifier) Verify(token []byte, now time.Time) ([]Claim, error) {
	if len(token) == 0 || len(token) > MaxTokenBytes {
		return nil, errMalformed
	}
	for _, c := range token {
		if c != '.' && !b64url[c] {
			return nil, errMalformed
		}
	}
	opts := append(slices.Clip(v.opts), jwt.WithTimeFunc(func() time.Time { return now }))
	claims := jwt.MapClaims{}
	tok, err := jwt.NewParser(opts...).ParseWithClaims(string(token), claims, v.keyFor)
	switch {
	case err != nil:
		return nil, v.reason(err, tok, claims)
	case !datesOK(claims):
		return nil, errMalformed
	}
	return v.claimHeaders(claims)
}

// keyFor is the parser's Keyfunc: the key for tok's kid and alg, from the
// PEM key or the JWKS cache. golang-jwt has already refused an alg outside
// v.methods. Its errors are *Error, which the parser wraps.
func (v *Verifier) keyFor(tok *jwt.Token) (any, error) {
	if _, ok := tok.Header["crit"]; ok {
		return nil, errMalformed
	}
	kid, hasKid := "", false
	if raw, ok := tok.Header["kid"]; ok {
		if kid, ok = raw.(string); !ok {
			return nil, errMalformed
		}
		hasKid = kid != "" // an empty kid selects nothing, like an absent one
	}
	alg := tok.Method.Alg()
	if v.static != nil {
		if alg != v.static.alg {
			return nil, errAlgorithm
		}
		return v.static.key, nil // whatever the kid
	}
	key, err := v.set.lookup(kid, hasKid, alg)
	if err != nil {
		return nil, err
	}
	return key.key, nil
}

// reason maps a golang-jwt error to the refusal reason. tok and claims are
// what the parser returned and filled (tok is nil for a token that is not
// three segments).
func (v *Verifier) reason(err error, tok *jwt.Token, claims jwt.MapClaims) *Error {
	var own *Error
	switch {
	case errors.As(err, &own): // from keyFor
		return own
	case errors.Is(err, jwt.ErrTokenInvalidClaims): // the signature verified
		return v.claimsReason(err, claims)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// Also how WithValidMethods refuses an algorithm it was not given.
		if tok != nil && tok.Method != nil && !slices.Contains(v.methods, tok.Method.Alg()) {
			return errAlgorithm
		}
		return errSignature
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// "alg" names no method golang-jwt has ("None", "rs256"), or is
		// missing or not a string (a malformed header).
		if tok != nil {
			if _, ok := tok.Header["alg"].(string); ok {
				return errAlgorithm
			}
		}
	}
	return errMalformed // jwt.ErrTokenMalformed
}

// claimsReason names the first failed claims check of a token whose
// signature verified, in a fixed order (golang-jwt reports them all, joined).
// Missing or ill-typed claims are told apart with MapClaims' own getters,
// since golang-jwt reports them with the same errors whichever claim it is.
func (v *Verifier) claimsReason(err error, c jwt.MapClaims) *Error {
	exp, _ := c.GetExpirationTime()
	switch {
	case !datesOK(c):
		return errMalformed
	case exp == nil: // jwt.ErrTokenRequiredClaimMissing
		return errNoExpiry
	case errors.Is(err, jwt.ErrTokenExpired):
		return errExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return errNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errIssuer
	}
	if v.issuer != "" {
		// Missing (jwt.ErrTokenRequiredClaimMissing) or not a string
		// (jwt.ErrInvalidType).
		if iss, e := c.GetIssuer(); e != nil || iss == "" {
			return errIssuer
		}
	}
	if v.audience != "" {
		// jwt.ErrTokenInvalidAudience, or "aud" missing or ill-typed: the
		// only check left.
		return errAudience
	}
	return errMalformed
}

// maxNumericDate bounds "exp" and "nbf", in seconds either side of 1970.
// golang-jwt converts a NumericDate to int64 seconds, and Go leaves a float
// beyond int64 converted as the CPU does (a time in the far past on amd64,
// in the far future on arm64): one token would be expired on one gateway
// and valid for ever on another. 2^62 s is 146 billion years.
const maxNumericDate = 1 << 62

// datesOK reports whether "exp" and "nbf", where present, are numbers
// within maxNumericDate (golang-jwt also refuses other types, as
// jwt.ErrInvalidType).
func datesOK(c jwt.MapClaims) bool {
	for _, name := range [...]string{"exp", "nbf"} {
		raw, ok := c[name]
		if !ok {
			continue
		}
		n, ok := raw.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64() // 1e400 is an error, not +Inf
		if err != nil || math.Abs(f) >= maxNumericDate {
			return false
		}
	}
	return true
}

// claimHeaders collects the claim headers of a verified token.
func (v *Verifier) claimHeaders(c jwt.MapClaims) ([]Claim, error) {
	var out []Claim
	for _, ch := range v.claims {
		raw := c[ch.claim]
		if raw == nil { // missing or null
			continue
		}
		s, ok := headerValue(raw)
		if !ok {
			return nil, errClaim
		}
		if out == nil {
			out = make([]Claim, 0, len(v.claims))
		}
		out = append(out, Claim{Header: ch.header, Value: s})
	}
	return out, nil
}

// headerValue renders a claim decoded with jwt.WithJSONNumber for a header;
// false when it cannot be sent faithfully.
func headerValue(raw any) (string, bool) {
	switch x := raw.(type) {
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		// An integer is sent as written, so that ids beyond 2^53 are not
		// rounded; anything else in the shortest form that reads back as
		// the same float64.
		if !strings.ContainsAny(string(x), ".eE") {
			return string(x), true
		}
		f, err := x.Float64()
		if err != nil {
			return "", false
		}
		return strconv.FormatFloat(f, 'g', -1, 64), true
	case string:
		for i, c := range x {
			switch {
			case c < 0x20 && c != '\t', c == 0x7f, c == utf8.RuneError:
				return "", false
			case (c == ' ' || c == '\t') && (i == 0 || i == len(x)-1):
				return "", false
			}
		}
		return x, true
	}
	return "", false // an object or an array
}
