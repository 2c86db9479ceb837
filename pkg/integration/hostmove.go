package integration

import (
	"net/url"
	"strings"
)

// siteKeySubject prefixes the subject of an actor authenticated by a site
// key (see AuthenticateSiteKey).
const siteKeySubject = "site_key:"

// ViaSiteKey reports whether the actor is a site's plugin, authenticated
// by its site key rather than a user's token.
func (a Actor) ViaSiteKey() bool { return strings.HasPrefix(a.Subject, siteKeySubject) }

// ErrMovesHost refuses a site key's change of an integration's host: a
// leaked key must not redirect the site's credentials and syncs to a host
// of the holder's choosing.
var ErrMovesHost = Errorf(EFORBIDDEN, "Only an editor can move this integration to another host.")

// MovesHost reports whether changing an integration's site URL from old
// to next moves it to another host: another hostname (compared without
// case) or port (the scheme's default when none is given). Moving from
// http to https on the same hostname is not a move, even from the default
// port 80 to 443; from https back to http is (it would send the
// credentials in the clear). An integration without a URL has no host to
// be moved from.
func MovesHost(old, next string) bool {
	o, err := url.Parse(old)
	if err != nil || o.Host == "" {
		return false
	}
	n, err := url.Parse(next)
	if err != nil {
		return true
	}
	hostname := func(u *url.URL) string { return strings.TrimSuffix(strings.ToLower(u.Hostname()), ".") }
	if hostname(o) != hostname(n) {
		return true
	}
	from, to := strings.ToLower(o.Scheme), strings.ToLower(n.Scheme)
	switch {
	case from == "https" && to == "http":
		return true
	case from == "http" && to == "https" && portOf(o) == "80" && portOf(n) == "443":
		return false // each on its scheme's default port
	}
	return portOf(o) != portOf(n)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return strings.TrimLeft(p, "0")
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}
