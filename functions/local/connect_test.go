package main

import (
	"fmt"
	"net/http"
	"testing"
)

// connectWordPress creates a WordPress integration for siteID with the
// admin's Application Password (or another) and returns its id.
func (r *runner) connectWordPress(t testing.TB, token, siteID, siteURL, appPassword string) string {
	t.Helper()
	created := r.do("POST", "/v1/integrations", token, fmt.Sprintf(`{"site_id":%q,"platform":"wordpress","external_site_url":%q,"credentials":{"username":"admin","app_password":%q}}`,
		siteID, siteURL, appPassword))
	want(t, created, http.StatusCreated, "create")
	return created.body["id"].(string)
}
