package integration

import "context"

// Apps gives the deployment's app credentials of a platform (its OAuth
// client id and secret, a signing secret, a key of its own), read from
// where the deployment keeps them and checked against the catalog.
type Apps interface {
	// App returns the platform's app credentials; EUNPROCESSABLE when the
	// deployment has none for it.
	App(ctx context.Context, platform string) (map[string]string, error)
}

// NotConfigured is the error for a platform whose app credentials the
// deployment lacks: the caller can do nothing about it but ask the
// operator, so it is a 422, never a 500.
func NotConfigured(p Platform) *Error {
	return Errorf(EUNPROCESSABLE, "%s is not configured on this deployment: its app credentials are missing.", displayName(p))
}

// NotAvailable is the error for creating an integration of a platform this
// build cannot connect yet.
func NotAvailable(p Platform) *Error {
	return Errorf(EUNPROCESSABLE, "%s is not available on this deployment yet", displayName(p))
}

func displayName(p Platform) string {
	if p.DisplayName != "" {
		return p.DisplayName
	}
	return p.Name
}

// checkConnectable refuses a platform that cannot be connected here: not
// available on this build, or needing app credentials the deployment
// lacks.
func (s *Service) checkConnectable(ctx context.Context, p Platform) error {
	if !p.Available {
		return NotAvailable(p)
	}
	if !p.AppRequired {
		return nil
	}
	if s.Apps == nil {
		return NotConfigured(p)
	}
	_, err := s.Apps.App(ctx, p.Name)
	return err
}
