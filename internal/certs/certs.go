// Package certs holds the certificates of the gateway's TLS termination:
// strict validation of uploaded certificate resources (Parse), the SNI index
// the listener selects a certificate from (Index, Selector), the self-signed
// default certificate kept in the data directory (LoadOrCreateDefault) and
// the listener's TLS configuration (ServerConfig).
//
// # Selection rule
//
// For a handshake whose SNI server name is s (compared case-insensitively,
// one trailing dot ignored), Index.Get returns the first of:
//
//  1. the certificate of the custom domain whose host is exactly s;
//  2. a certificate with s among its hosts (an exact DNS name);
//  3. a certificate with the wildcard "*.p" among its hosts, where s is one
//     label followed by ".p": "*.example.com" matches "a.example.com", but
//     neither "example.com" nor "a.b.example.com";
//  4. the default certificate.
//
// A handshake without SNI (clients connecting to an IP address) gets the
// default certificate. When several certificates have the same host (or the
// same wildcard), the one that expires last wins, then the smallest id, so
// that uploading a renewed certificate next to the old one switches to it.
//
// # Hosts
//
// The hosts of a certificate are the DNS names of its leaf's subjectAltName,
// wildcards included, in lower case without a trailing dot. The subject's
// common name is never used (as in browsers and Go's crypto/tls); a leaf
// without a DNS name has no host and is only served through a custom domain.
// IP address SANs are not hosts: SNI never carries an IP address (RFC 6066),
// so they can take no part in selection; Parsed.IPs lists them for display.
//
// An Index is immutable; the gateway builds a new one on every certificate
// or domain change and swaps it into a Selector, so that the change takes
// effect at once for new handshakes. Resumed sessions (session tickets) keep
// the authentication of the handshake that created them.
package certs
