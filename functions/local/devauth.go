package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// The dev issuer stands in for the OIDC issuer (Cognito, Auth0, …) that the
// HTTP API's JWT authorizer trusts in AWS.
const (
	devIssuer   = "joinery-local"
	devAudience = "joinery-local"
	devKeyFile  = "jwt-signing-key.pem"
)

// devAuth signs dev tokens and verifies bearer tokens the way the HTTP API
// JWT authorizer does: RS256 against the JWKS, issuer, audience and expiry.
type devAuth struct {
	key    *rsa.PrivateKey
	kid    string
	jwks   json.RawMessage
	keys   keyfunc.Keyfunc
	parser *jwt.Parser
}

// loadDevAuth reads the dev key pair from dataDir, creating it (0600) on first use.
func loadDevAuth(dataDir string) (*devAuth, error) {
	path := filepath.Join(dataDir, devKeyFile)
	key, err := readKey(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err = createKey(path)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encode dev public key: %w", err)
	}
	sum := sha256.Sum256(der)
	kid := base64.RawURLEncoding.EncodeToString(sum[:12])
	jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.AlgRS256, KID: kid, USE: jwkset.UseSig}})
	if err != nil {
		return nil, fmt.Errorf("dev JWK: %w", err)
	}
	set := jwkset.NewMemoryStorage()
	if err := set.KeyWrite(context.Background(), jwk); err != nil {
		return nil, fmt.Errorf("dev JWKS: %w", err)
	}
	raw, err := set.JSONPublic(context.Background())
	if err != nil {
		return nil, fmt.Errorf("dev JWKS: %w", err)
	}
	// Verify against the very JWKS document that is served, as the
	// authorizer would after fetching it.
	kf, err := keyfunc.NewJWKSetJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("dev JWKS keyfunc: %w", err)
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(devIssuer),
		jwt.WithAudience(devAudience), jwt.WithExpirationRequired(), jwt.WithLeeway(5*time.Second))
	return &devAuth{key: key, kid: kid, jwks: raw, keys: kf, parser: parser}, nil
}

func readKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("dev key %s: not PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("dev key %s: %w", path, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("dev key %s: not an RSA key", path)
	}
	return rk, nil
}

func createKey(path string) (*rsa.PrivateKey, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate dev key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode dev key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return readKey(path) // another process created it first
	}
	if err != nil {
		return nil, fmt.Errorf("create dev key: %w", err)
	}
	defer f.Close()
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		return nil, fmt.Errorf("write dev key: %w", err)
	}
	return key, f.Close()
}

// mint signs a dev token.
func (d *devAuth) mint(subject, account, role string, sites []string, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": devIssuer, "aud": devAudience, "sub": subject,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(),
		"account_id": account, "role": role,
	}
	if sites != nil {
		claims["sites"] = strings.Join(sites, ",")
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = d.kid
	return tok.SignedString(d.key)
}

// verify checks a bearer token and returns its claims as strings, the way
// API Gateway hands them to a function.
func (d *devAuth) verify(authorization string) (map[string]string, error) {
	raw, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok {
		return nil, errors.New("no bearer token")
	}
	claims := jwt.MapClaims{}
	if _, err := d.parser.ParseWithClaims(strings.TrimSpace(raw), claims, d.keys.Keyfunc); err != nil {
		return nil, err
	}
	return stringClaims(claims), nil
}

// stringClaims flattens claims as API Gateway does: strings as they are,
// numbers and booleans in their JSON form, arrays as "[a b]", objects as JSON.
func stringClaims(claims jwt.MapClaims) map[string]string {
	out := make(map[string]string, len(claims))
	for k, v := range claims {
		out[k] = claimString(v)
	}
	return out
}

func claimString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = claimString(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
