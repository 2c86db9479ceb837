package smsecrets

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/joinery/joinery/pkg/appcreds"
	"github.com/joinery/joinery/pkg/awstest"
	"github.com/joinery/joinery/pkg/conformance"
	"github.com/joinery/joinery/pkg/connector"
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

func TestAppsSecretConformance(t *testing.T) {
	sm := secretsmanager.NewFromConfig(awstest.Config(awstest.Moto(t)))
	ctx := context.Background()
	conformance.TestApps(t, func(t *testing.T, now func() time.Time, ttl time.Duration) conformance.AppsStore {
		name := fmt.Sprintf("joinery-apps-test-%d", time.Now().UnixNano())
		return conformance.AppsStore{
			Apps: appcreds.New(NewAppsSecret(sm, name), connector.NewCatalog(), ttl, now),
			Write: func(t *testing.T, doc string) {
				_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(doc)})
				var nf *types.ResourceNotFoundException
				if errors.As(err, &nf) {
					_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(doc)})
				}
				if err != nil {
					t.Fatal(err)
				}
			},
			Remove: func(t *testing.T) {
				if _, err := sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}

func TestCursorKeySecretConformance(t *testing.T) {
	sm := secretsmanager.NewFromConfig(awstest.Config(awstest.Moto(t)))
	ctx := context.Background()
	conformance.TestCursorKeys(t, func(t *testing.T) conformance.CursorKeyStore {
		// As the stack creates it: a generated value.
		name := fmt.Sprintf("joinery-cursor-key-test-%d", time.Now().UnixNano())
		if err := CreateCursorKeySecret(ctx, sm, name); err != nil {
			t.Fatal(err)
		}
		return conformance.CursorKeyStore{
			Keys:   NewCursorKeySecret(sm, name),
			Reopen: func(*testing.T) integration.CursorKeys { return NewCursorKeySecret(sm, name) },
			Rotate: func(t *testing.T) {
				key, err := NewCursorKey()
				if err == nil {
					_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(key)})
				}
				if err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}
