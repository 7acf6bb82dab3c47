// Package hmacauth verifies the two HMAC request signatures Portico accepts:
// key pairs (auth type "key") and applications (auth type "app"). It knows
// nothing of HTTP servers, stores or configuration: a front end presents a
// request through the Request interface, looks up the secret named by the
// Authorization header's id, and calls CheckKey or CheckApp (or the steps they
// are made of). docs/signing.md is the user's guide to the same rules.
//
// # The Authorization header
//
// Both schemes send
//
//	Authorization: hmac id="<id>", algorithm="hmac-sha256", headers="x-date source", signature="<base64>"
//
// The scheme name is case-insensitive, the four parameters come in any order,
// each exactly once, with optional spaces or tabs around "=" and ",". Values
// are double-quoted and have no escapes: a backslash is refused rather than
// read either as an escape (RFC 9110 quoted-string) or as itself, because a
// client and the gateway reading it differently would sign different ids. Any
// other parameter is refused, so that a client that believes it is using an
// extension (a nonce, say) learns that the gateway does not enforce it.
// Parameter names are case-insensitive, as in RFC 9110 auth-params.
//
// "headers" lists header names separated by spaces; they are compared in
// lower case, must be tokens, must not repeat, and at most 100 may be listed
// (the proxy port refuses requests with more fields than that).
//
// The signature is the standard base64 encoding, with padding, of the HMAC of
// the signing string under the secret; non-canonical encodings (non-zero bits
// in the last character) are refused.
//
// # Key pairs
//
// The id is the key's secret id; algorithms hmac-sha1, hmac-sha256,
// hmac-sha384 and hmac-sha512. The signing string is each listed header, in
// the listed order, as "name: value" with the name in lower case and the value
// trimmed of surrounding spaces and tabs, joined by "\n" (no trailing "\n").
//
// # Applications
//
// The id is the application's key; algorithms hmac-sha1 and hmac-sha256. The
// signing string is six parts joined by "\n", with no trailing "\n":
//
//  1. the listed headers sorted by lower-case name, each as "name: value\n"
//     (so the part ends with "\n", and the join adds an empty line after it);
//     x-date must be one of them;
//  2. the method in upper case;
//  3. the Accept value;
//  4. the Content-Type value;
//  5. the Content-MD5 value when the request has a body that is not a form,
//     else empty (a form's parameters are signed in part 6 instead);
//  6. the path as the API sees it (without the /test, /prepub or /release
//     prefix that chose the environment), percent-decoded; then, if there are
//     any, "?" and the query and form parameters, percent-decoded ("+" is a
//     space), sorted by key then value, each as "key=value" or as "key" alone
//     when the value is empty, joined by "&".
//
// An absent header is an empty value and its part keeps its place, so a
// request without Accept has an empty third line.
//
// Where the rules leave room, this package decides:
//
//   - Query and form parameters are signed decoded, because the cloud
//     gateway's SDKs sign the values before encoding them; a client then does
//     not have to reproduce its HTTP library's percent-encoding choices. The
//     path is decoded for the same reason (but "+" in a path is a plus, as in
//     URLs). A malformed escape ("%zz", a lone "%") is refused, naming the
//     part, rather than signed as it stands: the client cannot have meant it.
//   - Repeated keys are all signed, ordered by value (a=2&a=1 signs a=1&a=2).
//     Pairs equal in key and value are indistinguishable, so the order is
//     total and any sort is stable.
//   - Empty pieces ("a=1&&b=2") are skipped, as url.ParseQuery does. ";" is
//     an ordinary byte, not a separator.
//   - A body is a form when its media type is application/x-www-form-urlencoded
//     (Request.Form decides). Its parameters join the query's in part 6.
//   - Only the first field of a repeated header is signed (Request.Field).
//   - Content-MD5 is signed as sent; CheckContentMD5 compares it with the body
//     for front ends that read it. A client that omits it leaves the body out
//     of the signature; nothing requires it.
//
// Signing decoded values has a price, accepted for compatibility: the
// signing string cannot tell an escaped separator from a real one, so
// "a=1%262" (one parameter, "1&2") signs like "a=1&2" (two parameters), and a
// path with "%3F" like a path and a query. Someone who captures a signed
// request can re-split its parameters that way, reorder them or escape them
// differently, and replay it within the date window; what it cannot change
// is the decoded signing string. Clients that need more use TLS, which they
// need anyway to keep a request from being captured.
//
// # The date
//
// Both schemes must sign a date: key pairs "x-date" or "date", applications
// "x-date" (browsers cannot set Date, so x-date exists; clients written for the
// cloud gateway send headers="date source" with a Date header). When both are
// listed, x-date is the one checked. The value must be an IMF-fixdate, the
// HTTP date format ("Mon, 30 Nov 2026 10:00:00 GMT"), with a weekday that
// matches the date; RFC 850 and asctime dates are refused, because every
// client library writes IMF-fixdate and the strict form is trivial to check
// without allocating. It must be within DateWindow (900 s) of the gateway's
// clock, either side, edges included: the window bounds how long a captured
// request can be replayed.
//
// # Errors
//
// Every failure is an *Error whose Part names the failed check
// ("authorization", "algorithm", "headers", "date", "path", "query", "form",
// "content-md5", "secret", "signature") and whose Message says what is wrong in
// words fit for the 401 answer. Neither ever holds the secret or the
// signature the gateway expected: the first would give the secret away, the
// second would let anyone obtain a valid signature for any request by sending
// it once with a wrong one.
//
// # Cost
//
// Checking a request allocates nothing in the steady state: the Header
// keeps its slices between calls, signing strings and parameter lists come
// from pools, and the MAC is crypto/hmac's, with its keyed states pooled
// per secret (Reset brings one back to "just keyed"). See BenchmarkCheckKey
// and BenchmarkCheckApp.
package hmacauth
