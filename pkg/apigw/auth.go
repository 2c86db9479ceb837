package apigw

import (
	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
)

// ClaimNames says which JWT claims carry the account, the role and the
// allowed sites. The HTTP API's JWT authorizer has verified the token and
// hands its claims to the function as strings.
type ClaimNames struct {
	Account string
	Role    string
	Sites   string
}

// DefaultClaimNames are used for any name left empty.
var DefaultClaimNames = ClaimNames{Account: "account_id", Role: "role", Sites: "sites"}

func (c ClaimNames) withDefaults() ClaimNames {
	if c.Account == "" {
		c.Account = DefaultClaimNames.Account
	}
	if c.Role == "" {
		c.Role = DefaultClaimNames.Role
	}
	if c.Sites == "" {
		c.Sites = DefaultClaimNames.Sites
	}
	return c
}

// actor reads the caller from the authorizer's claims. For the host
// backend's service token it also returns the token's client id.
func (a *API) actor(req events.APIGatewayV2HTTPRequest) (integration.Actor, string, error) {
	names := a.Claims.withDefaults()
	var claims map[string]string
	if auth := req.RequestContext.Authorizer; auth != nil && auth.JWT != nil {
		claims = auth.JWT.Claims
	}
	if client, ok := a.ServiceAccess.client(claims); ok {
		actor, err := serviceActor(req, client)
		return actor, client, err
	}
	if header(req, AccountHeader) != "" {
		return integration.Actor{}, "", integration.Errorf(integration.EFORBIDDEN, "%s needs a service token.", AccountHeader)
	}
	account := claims[names.Account]
	if account == "" {
		return integration.Actor{}, "", integration.Errorf(integration.EUNAUTHORIZED, "The token carries no %s claim.", names.Account)
	}
	if !integration.ValidAccountID(account) {
		return integration.Actor{}, "", integration.Errorf(integration.EUNAUTHORIZED, "The token's %s claim is not a valid account id.", names.Account)
	}
	role, err := roleClaim(claims, names.Role)
	if err != nil {
		return integration.Actor{}, "", err
	}
	actor := integration.Actor{Subject: claims["sub"], AccountID: account, Role: role}
	if raw, ok := claims[names.Sites]; ok {
		actor.Sites = append([]string{}, claimList(raw)...)
	}
	return actor, "", nil
}
