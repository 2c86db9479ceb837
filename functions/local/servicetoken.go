package main

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// mintClaims signs a dev token with the given claims besides the issuer,
// audience and times.
func (d *devAuth) mintClaims(claims jwt.MapClaims, ttl time.Duration) (string, error) {
	now := time.Now()
	all := jwt.MapClaims{"iss": devIssuer, "aud": devAudience, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	for k, v := range claims {
		all[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, all)
	tok.Header["kid"] = d.kid
	return tok.SignedString(d.key)
}

// mintService signs a token like the one a client-credentials grant gives
// the host backend: a client id and scopes, no user, account or role. (A
// Cognito access token has no aud; API Gateway then checks its client_id
// against the authorizer's audiences. The dev token keeps the dev
// audience so the runner's check stays the one it is.)
func (d *devAuth) mintService(client, scope string, ttl time.Duration) (string, error) {
	return d.mintClaims(jwt.MapClaims{"sub": client, "client_id": client, "scope": scope, "token_use": "access"}, ttl)
}
