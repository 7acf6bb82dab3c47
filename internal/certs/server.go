package certs

import "crypto/tls"

// ServerConfig returns the TLS configuration of a listener whose
// certificates get chooses (a Selector's GetCertificate, or any function
// that reads the served configuration):
//
//   - TLS 1.2 minimum, TLS 1.3 allowed (and preferred by crypto/tls);
//   - TLS 1.2 cipher suites limited to ECDHE key exchange with AES-GCM or
//     ChaCha20-Poly1305 (TLS 1.3 suites are not configurable and all are
//     AEAD);
//   - session tickets on, so clients resume sessions; crypto/tls generates
//     and rotates the ticket keys in memory, so tickets do not survive a
//     restart and are not shared between gateway instances.
//
// NextProtos is left empty: the caller sets the ALPN protocols it serves
// (for example []string{"http/1.1"}) on the returned config, which is a new
// value on every call.
func ServerConfig(get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		GetCertificate:         get,
		SessionTicketsDisabled: false,
	}
}
