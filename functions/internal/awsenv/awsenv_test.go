package awsenv

import (
	"context"
	"testing"
)

func TestIsLocalEndpoint(t *testing.T) {
	for endpoint, want := range map[string]bool{
		"http://127.0.0.1:5000":          true,
		"http://localhost:4566":          true,
		"http://[::1]:5000":              true,
		"https://127.0.0.2":              true,
		"":                               false,
		"https://dynamodb.amazonaws.com": false,
		"http://10.0.0.5:5000":           false,
		"http://localhost.example.com":   false,
		"127.0.0.1:5000":                 false,
	} {
		if got := IsLocalEndpoint(endpoint); got != want {
			t.Errorf("IsLocalEndpoint(%q) = %v, want %v", endpoint, got, want)
		}
	}
}

// clearAWS unsets what would make the SDK find a region or credentials.
func clearAWS(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no ~/.aws
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		t.Setenv(v, "")
	}
}

func TestLocalEndpointDefaultsRegionAndCredentials(t *testing.T) {
	clearAWS(t)
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
	cfg, err := Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != LocalRegion {
		t.Errorf("region %q, want %q", cfg.Region, LocalRegion)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatalf("credentials: %v", err)
	}
	if creds.AccessKeyID != LocalKey {
		t.Errorf("access key %q, want %q", creds.AccessKeyID, LocalKey)
	}
}

func TestLocalEndpointKeepsWhatIsSet(t *testing.T) {
	clearAWS(t)
	t.Setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "mine")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	cfg, err := Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" || creds.AccessKeyID != "mine" {
		t.Errorf("region %q key %q, want eu-west-1 and mine", cfg.Region, creds.AccessKeyID)
	}
}

func TestRemoteEndpointDefaultsNothing(t *testing.T) {
	clearAWS(t)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true") // no instance role to look for
	for _, endpoint := range []string{"", "https://dynamodb.eu-west-1.amazonaws.com"} {
		t.Setenv("AWS_ENDPOINT_URL", endpoint)
		cfg, err := Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Region != "" {
			t.Errorf("endpoint %q: region %q, want none", endpoint, cfg.Region)
		}
		if creds, err := cfg.Credentials.Retrieve(context.Background()); err == nil {
			t.Errorf("endpoint %q: credentials %q were made up", endpoint, creds.AccessKeyID)
		}
	}
}
