package smsecrets

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/conformance"
	"github.com/joinery/joinery/pkg/integration"
)

func TestMain(m *testing.M) { awstest.Main(m) }

func TestSecretsConformance(t *testing.T) {
	sm := secretsmanager.NewFromConfig(awstest.Config(awstest.Moto(t)))
	s := New(sm, fmt.Sprintf("joinery-test-%d/", time.Now().UnixNano()), time.Minute)
	conformance.TestSecrets(t, func(*testing.T) integration.Secrets { return s })
}

func TestName(t *testing.T) {
	s := New(nil, "", 0)
	got := s.Name(integration.SecretRef{AccountID: "org:42 x", IntegrationID: "01J"})
	if got != "joinery/org_42_x/01J" {
		t.Fatalf("name = %q", got)
	}
}
