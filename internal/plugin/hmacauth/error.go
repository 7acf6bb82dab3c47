package hmacauth

import "strconv"

// Error is a failed check. Part says which check failed so that a front end
// can count failures by cause and a client can tell a clock problem from a
// signing bug; Message is the sentence for the 401 answer.
//
// Neither field ever holds the secret or the signature the gateway computed:
// the expected signature is a valid credential for the request, and echoing
// it would turn the gateway into a signing oracle.
type Error struct {
	// Part is one of "authorization", "algorithm", "headers", "date",
	// "path", "query", "form", "content-md5", "secret", "signature".
	Part string
	// Message names the failing check ("signature mismatch", "date out of
	// window", ...) and, where it can, the detail the client needs.
	Message string
	// StringToSign is set on a signature mismatch: the signing string the
	// gateway built from the request, which the client can compare with its
	// own. It is made only of the request's own bytes, so a front end may
	// show it to the caller (as a header, say); it is kept out of Message
	// because it can be long and multi-line.
	StringToSign string
}

// Error returns the message, prefixed with the package name, for logs.
func (e *Error) Error() string { return "hmacauth: " + e.Message }

// fail builds an *Error; the error path may allocate, the success path never
// comes here.
func fail(part, msg string) *Error { return &Error{Part: part, Message: msg} }

// quote renders a client-supplied value for a message: quoted, so control
// bytes cannot forge lines in a log or answer, and cut to 40 bytes, so a
// client cannot make the gateway echo a large value.
func quote(b []byte) string {
	const max = 40
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}
