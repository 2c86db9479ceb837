package integration

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Limits on what an integration may hold.
const (
	MaxConfigBytes         = 16 << 10
	MaxURLLength           = 2048
	MinSyncIntervalMinutes = 5
	MaxSyncIntervalMinutes = 7 * 24 * 60
	DefaultSyncInterval    = 60
	defaultCredentialMax   = 4096
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._:\-]{1,128}$`)

// ValidSiteID reports whether s is a well-formed site id.
func ValidSiteID(s string) bool { return idPattern.MatchString(s) }

// ValidAccountID reports whether s is a well-formed account id.
func ValidAccountID(s string) bool { return idPattern.MatchString(s) }

func checkSiteID(fields map[string]string, name, v string) {
	switch {
	case v == "":
		fields[name] = "required"
	case !ValidSiteID(v):
		fields[name] = "must be 1-128 letters, digits, '.', '_', ':' or '-'"
	}
}

// checkURL validates an external site URL: absolute http(s), a host, no
// user info, no query string, no fragment (Joinery adds its own paths and
// queries to the site's address). It returns "" when the URL is
// acceptable.
func checkURL(raw string) string {
	if len(raw) > MaxURLLength {
		return fmt.Sprintf("must be at most %d characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "must be a valid URL"
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an http or https URL"
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return "must be an absolute URL with a host"
	case u.User != nil:
		return "must not contain user info; send credentials in the credentials field"
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "must not contain a fragment"
	case u.RawQuery != "" || u.ForceQuery || strings.Contains(raw, "?"):
		return "must not contain a query string"
	case strings.ContainsAny(raw, " \t\r\n"):
		return "must not contain whitespace"
	}
	if p := u.Port(); p != "" {
		for _, c := range p {
			if c < '0' || c > '9' {
				return "has an invalid port"
			}
		}
	}
	return ""
}

// checkSiteURL validates a site URL for p and returns it as stored: where
// the platform gives a pattern, lower-cased (Shopify's shop domains are).
func checkSiteURL(fields map[string]string, p Platform, raw string) string {
	if raw == "" {
		if p.SiteURL == SiteURLRequired {
			fields["external_site_url"] = "required for " + p.Name
		}
		return raw
	}
	if msg := checkURL(raw); msg != "" {
		fields["external_site_url"] = msg
		return raw
	}
	if p.SiteURLPattern != nil {
		raw = strings.ToLower(raw)
		if !p.SiteURLPattern.MatchString(raw) {
			fields["external_site_url"] = "must match " + p.SiteURLPattern.String()
		}
	}
	return raw
}

// checkCredentials validates credential values against the platform's
// fields. Messages name fields, never values.
func checkCredentials(fields map[string]string, p Platform, creds map[string]string) {
	if !p.AcceptsCredentials() {
		fields["credentials"] = fmt.Sprintf("%s is connected through OAuth; credentials cannot be set directly", p.Name)
		return
	}
	known := make(map[string]CredentialField, len(p.Credentials))
	for _, f := range p.Credentials {
		known[f.Name] = f
	}
	for name, v := range creds {
		f, ok := known[name]
		if !ok {
			fields["credentials."+name] = fmt.Sprintf("unknown field for %s; expected %s", p.Name, credentialNames(p))
			continue
		}
		max := f.MaxLen
		if max == 0 {
			max = defaultCredentialMax
		}
		if len(v) > max {
			fields["credentials."+name] = fmt.Sprintf("must be at most %d characters", max)
		}
	}
	for _, f := range p.Credentials {
		if v, ok := creds[f.Name]; f.Required && (!ok || strings.TrimSpace(v) == "") {
			fields["credentials."+f.Name] = "required"
		}
	}
}

func credentialNames(p Platform) string {
	names := make([]string, len(p.Credentials))
	for i, f := range p.Credentials {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

func checkConfig(fields map[string]string, config map[string]any) {
	if config == nil {
		return
	}
	b, err := json.Marshal(config)
	if err != nil {
		fields["config"] = "must be a JSON object"
		return
	}
	if len(b) > MaxConfigBytes {
		fields["config"] = fmt.Sprintf("must be at most %d bytes encoded, got %d", MaxConfigBytes, len(b))
	}
}

func checkInterval(fields map[string]string, minutes int) {
	if minutes < MinSyncIntervalMinutes || minutes > MaxSyncIntervalMinutes {
		fields["sync_interval_minutes"] = fmt.Sprintf("must be between %d and %d", MinSyncIntervalMinutes, MaxSyncIntervalMinutes)
	}
}

func checkPlatform(fields map[string]string, c Catalog, name string) (Platform, bool) {
	if name == "" {
		fields["platform"] = "required"
		return Platform{}, false
	}
	p, ok := c.Platform(name)
	if !ok {
		names := slices.Clone(c.Names())
		sort.Strings(names)
		fields["platform"] = "unknown platform; expected one of " + strings.Join(names, ", ")
	}
	return p, ok
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// MergePatch applies an RFC 7396 JSON Merge Patch to a decoded JSON object.
// It works on decoded values (not bytes) so the service can re-apply a patch
// to a fresh copy when an optimistic update has to be retried; the algorithm
// is the RFC's own few lines, so no library is needed. target is not modified.
func MergePatch(target map[string]any, patch map[string]any) map[string]any {
	out := make(map[string]any, len(target)+len(patch))
	for k, v := range target {
		out[k] = v
	}
	for k, pv := range patch {
		if pv == nil {
			delete(out, k)
			continue
		}
		if pm, ok := pv.(map[string]any); ok {
			tm, _ := out[k].(map[string]any)
			out[k] = MergePatch(tm, pm)
			continue
		}
		out[k] = pv
	}
	return out
}
