package apigw

import (
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
)

// AccountHeader names the account a service token acts for.
const AccountHeader = "X-Joinery-Account"

// DefaultServiceScope is the scope a service token must carry unless the
// deployment names another.
const DefaultServiceScope = "joinery/service"

// ServiceAccess says which tokens are the host backend's own: a token whose
// client_id (or azp) is one of Clients and whose scope holds Scope. Such a
// token acts as owner of the account named by X-Joinery-Account. With no
// Clients, no token is a service token.
type ServiceAccess struct {
	Clients []string
	Scope   string
}

// ParseServiceAccess reads the comma-separated client ids and the scope
// (JOINERY_SERVICE_CLIENTS, JOINERY_SERVICE_SCOPE); an empty scope is the
// default one.
func ParseServiceAccess(clients, scope string) ServiceAccess {
	s := ServiceAccess{Scope: strings.TrimSpace(scope)}
	if s.Scope == "" {
		s.Scope = DefaultServiceScope
	}
	for _, c := range strings.Split(clients, ",") {
		if c = strings.TrimSpace(c); c != "" {
			s.Clients = append(s.Clients, c)
		}
	}
	return s
}

// client returns the client id of a service token.
func (s ServiceAccess) client(claims map[string]string) (string, bool) {
	if len(s.Clients) == 0 {
		return "", false
	}
	id := claims["client_id"]
	if id == "" {
		id = claims["azp"]
	}
	if id == "" || !slices.Contains(s.Clients, id) {
		return "", false
	}
	scope := s.Scope
	if scope == "" {
		scope = DefaultServiceScope
	}
	// scope is space-separated (RFC 8693); an array form arrives as "[a b]".
	raw := strings.TrimSpace(claims["scope"])
	if strings.HasPrefix(raw, "[") && strings.HasSuffix(raw, "]") {
		raw = raw[1 : len(raw)-1]
	}
	if !slices.Contains(strings.Fields(raw), scope) {
		return "", false
	}
	return id, true
}

// serviceActor is the owner of the account the request names.
func serviceActor(req events.APIGatewayV2HTTPRequest, client string) (integration.Actor, error) {
	account := strings.TrimSpace(header(req, AccountHeader))
	switch {
	case account == "":
		return integration.Actor{}, integration.Invalid(map[string]string{AccountHeader: "required: a service token names the account it acts for"})
	case !integration.ValidAccountID(account):
		return integration.Actor{}, integration.Invalid(map[string]string{AccountHeader: "must be 1-128 letters, digits, '.', '_', ':' or '-'"})
	}
	return integration.Actor{Subject: "service:" + client, AccountID: account, Role: integration.RoleOwner}, nil
}
