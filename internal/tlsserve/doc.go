// Package tlsserve serves HTTPS for the runtime and the registry (DESIGN.md
// decision 14): a TLS listener over the server's own listener, with its
// certificate from files, from an ACME CA, or self-signed for development,
// and an optional plain-HTTP listener that answers ACME http-01 challenges
// and redirects everything else to HTTPS.
//
// # Certificates
//
// Exactly one source per Config:
//
//   - CertFile and KeyFile: a PEM chain and its key. The files are checked
//     every ReloadEvery and re-read when they change (Listener.Reload does
//     it at once), so a certificate renewed by another tool takes effect
//     without a restart. A bad new pair is logged and the old one keeps
//     serving.
//   - ACMEDomains: certificates obtained and renewed over ACME by
//     caddyserver/certmagic (RATIONALE.md, "Why certmagic?"): tls-alpn-01 on
//     the HTTPS listener, http-01 on the redirect listener when there is one.
//     The account, certificates and locks live in Dir, so replicas sharing
//     Dir (a shared volume) obtain each certificate once. Issuance runs in
//     the background after Start, with retries; until it succeeds handshakes
//     for those names fail. Renewal happens well before expiry (and early
//     when the CA's renewal information asks for it), and the renewed
//     certificate replaces the old one in memory.
//   - SelfSigned: a development certificate for localhost, 127.0.0.1 and ::1,
//     made once and kept in Dir (self-signed.pem is what a client pins).
//     Never the default: it is used only when asked for.
//
// Certificates carrying an OCSP responder URL get their OCSP response
// stapled and refreshed by certmagic (Let's Encrypt's no longer carry one).
//
// # Protocol
//
// TLS 1.2 and 1.3 only; for TLS 1.2 only ECDHE key exchange with AEAD
// ciphers; key exchange prefers the hybrid post-quantum X25519MLKEM768, then
// X25519, P-256 and P-384. HTTP/2 is offered.
//
// Response headers (HSTS and the like) are the servers' business, not this
// package's: a request that came over TLS has a non-nil Request.TLS.
package tlsserve
