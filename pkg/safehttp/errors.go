package safehttp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// BlockedError is a refused destination: nothing was sent to it, not even
// a TCP SYN. Callers find it with errors.As.
type BlockedError struct {
	Host   string // as requested: a name or an IP literal
	IP     string // the address refused (IPv4-mapped IPv6 is shown as IPv4)
	Port   int
	Reason string // why, for people: "the address is loopback"
}

func (e *BlockedError) Error() string {
	target := net.JoinHostPort(e.IP, strconv.Itoa(e.Port))
	if e.Host != "" && e.Host != e.IP {
		target = e.Host + " (" + target + ")"
	}
	return fmt.Sprintf("refused to connect to %s: %s; set %s for local development", target, e.Reason, EnvAllowPrivate)
}

var (
	// ErrBodyTooLarge is returned by a response body's Read once the body
	// has gone past Options.MaxBodyBytes. Match it with errors.Is.
	ErrBodyTooLarge = errors.New("the response body is larger than the size limit")
	// ErrTooManyRedirects is returned (inside a *url.Error) when a request
	// is redirected more than Options.MaxRedirects times.
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrUnsafeRedirect is returned (inside a *url.Error) for a redirect to
	// a scheme other than http and https, or from https down to http.
	ErrUnsafeRedirect = errors.New("refused to follow the redirect")
)

// bodyTooLargeError says which limit was hit and is ErrBodyTooLarge.
type bodyTooLargeError struct{ limit int64 }

func (e *bodyTooLargeError) Error() string {
	return fmt.Sprintf("%v (%d bytes)", ErrBodyTooLarge, e.limit)
}

func (e *bodyTooLargeError) Unwrap() error { return ErrBodyTooLarge }

// IsTimeout reports whether err, anywhere in its chain, is a timeout: the
// dial, the TLS handshake, the response headers, the client's overall
// deadline or a context deadline. It looks at the whole chain because
// *url.Error only asks its direct child.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	return anyInChain(err, func(e error) bool {
		t, ok := e.(interface{ Timeout() bool })
		return ok && t.Timeout()
	})
}

// IsTLS reports whether err is a TLS failure: a certificate that does not
// verify (expired, self-signed, for another name), a peer that does not
// speak TLS, or a handshake the peer refused (say, it offers only TLS 1.0
// or 1.1, which the client refuses).
func IsTLS(err error) bool {
	return anyInChain(err, func(e error) bool {
		switch e.(type) {
		case *tls.CertificateVerificationError, tls.RecordHeaderError, tls.AlertError, *tls.ECHRejectionError,
			x509.UnknownAuthorityError, x509.HostnameError, x509.CertificateInvalidError:
			return true
		}
		// crypto/tls reports most handshake failures, and the peer's alerts,
		// as unexported or plain errors; all of them start with "tls: ".
		msg := e.Error()
		return strings.HasPrefix(msg, "tls: ") || strings.HasPrefix(msg, "x509: ")
	})
}

// anyInChain walks err's tree (Unwrap() error and Unwrap() []error).
func anyInChain(err error, match func(error) bool) bool {
	for err != nil {
		if match(err) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if anyInChain(e, match) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}
