package smsecrets

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/conformance"
)

func TestCurrentSecretsConformance(t *testing.T) {
	sm := secretsmanager.NewFromConfig(awstest.Config(awstest.Moto(t)))
	s := New(sm, fmt.Sprintf("joinery-current-%d/", time.Now().UnixNano()), time.Minute)
	conformance.TestCurrentSecrets(t, func(*testing.T) conformance.CurrentSecretStore { return s })
}
