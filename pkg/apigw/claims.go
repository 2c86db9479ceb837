package apigw

import (
	"strings"
	"unicode"

	"github.com/joinery/joinery/pkg/integration"
)

// claimList reads a claim that may hold several values. The HTTP API's JWT
// authorizer (and the local runner) hand an array claim such as Cognito's
// cognito:groups over as "[a b]"; issuers also write lists as "a b" or
// "a,b", and a string claim may carry a JSON array ("[\"a\",\"b\"]").
func claimList(raw string) []string {
	s := strings.TrimSpace(raw)
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	var out []string
	for _, v := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
		if v = strings.Trim(v, `"`); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// roleClaim is the highest role the role claim names, matched without
// regard to case. Names Joinery does not know (other groups the user is
// in) are passed over; a claim naming none is refused, naming the roles.
func roleClaim(claims map[string]string, name string) (integration.Role, error) {
	raw, ok := claims[name]
	best := integration.RoleNone
	for _, v := range claimList(raw) {
		best = max(best, integration.ParseRole(v))
	}
	if best != integration.RoleNone {
		return best, nil
	}
	roles := strings.Join(integration.RoleNames(), ", ")
	if !ok || strings.TrimSpace(raw) == "" {
		return best, integration.Errorf(integration.EFORBIDDEN, "The token carries no %s claim; the roles are %s.", name, roles)
	}
	return best, integration.Errorf(integration.EFORBIDDEN, "The token's %s claim names no known role; the roles are %s.", name, roles)
}
