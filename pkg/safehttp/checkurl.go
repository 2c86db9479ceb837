package safehttp

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
)

// CheckURL vets a URL users give for Joinery to call later (a webhook
// endpoint) with the same rules the client dials by: the scheme must be
// https — http only to addresses the Policy allows, which only local
// development sets — and the host must resolve to addresses the client
// would connect to. The client checks again at each dial: a name that
// later resolves elsewhere is refused then. The error says what is wrong,
// for the user.
func CheckURL(ctx context.Context, u *url.URL, o Options) error {
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return errors.New("must be an https URL")
	}
	port := uint16(443)
	if u.Scheme == "http" {
		port = 80
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return errors.New("has an invalid port")
		}
		port = uint16(n)
	}
	d := newDialer(o.Policy, o.Resolver, orDefault(o.DialTimeout, DefaultDialTimeout))
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	ips, err := d.resolve(ctx, "tcp", u.Hostname())
	if err != nil {
		return errors.New("names a host that does not resolve")
	}
	for _, ip := range ips {
		if u.Scheme == "http" && !o.Policy.allows(ip.WithZone(""), port) {
			return errors.New("must be an https URL")
		}
		var blocked *BlockedError
		if err := d.check(u.Hostname(), ip, port); errors.As(err, &blocked) {
			return errors.New("must not point at a private or special-purpose address (" + blocked.Reason + ")")
		} else if err != nil {
			return err
		}
	}
	return nil
}
