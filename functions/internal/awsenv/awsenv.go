// Package awsenv loads the AWS SDK configuration the functions and the
// local runner share.
package awsenv

import (
	"context"
	"net"
	"net/url"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// LocalRegion and LocalKey are what a local endpoint gets when the
// environment names no region or credentials: local emulators such as moto
// accept any, and without them the SDK looks for an instance role and fails.
const (
	LocalRegion = "us-east-1"
	LocalKey    = "test"
)

// Load is config.LoadDefaultConfig, except that when AWS_ENDPOINT_URL is
// a local address (localhost or a loopback IP) a missing region defaults to
// LocalRegion and missing credentials to LocalKey. Against any other
// endpoint — AWS itself — nothing is defaulted, so a deployment without
// credentials still fails loudly instead of signing with made-up ones.
func Load(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	local := IsLocalEndpoint(os.Getenv("AWS_ENDPOINT_URL"))
	if local && os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(LocalKey, LocalKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, err
	}
	if local && cfg.Region == "" {
		cfg.Region = LocalRegion
	}
	return cfg, nil
}

// IsLocalEndpoint says whether endpoint is an http(s) URL on this machine.
func IsLocalEndpoint(endpoint string) bool {
	if endpoint == "" {
		return false
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
