package integration

import (
	"slices"
	"strings"
)

// Role is an actor's role within its account. Roles are ordered.
type Role int

const (
	RoleNone Role = iota
	RoleViewer
	RoleEditor
	RoleAdmin
	RoleOwner
)

// ParseRole maps a role name, in any case, to a Role; unknown names are
// RoleNone.
func ParseRole(s string) Role {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "viewer":
		return RoleViewer
	case "editor":
		return RoleEditor
	case "admin":
		return RoleAdmin
	case "owner":
		return RoleOwner
	}
	return RoleNone
}

// RoleNames are the roles, lowest first.
func RoleNames() []string {
	return []string{"viewer", "editor", "admin", "owner"}
}

func (r Role) String() string {
	return [...]string{"none", "viewer", "editor", "admin", "owner"}[r]
}

// Actor is who makes a request, as established by the transport.
type Actor struct {
	Subject   string
	AccountID string
	Role      Role
	// Sites limits the actor to these site ids; nil means every site of the account.
	Sites []string
}

// Require returns EUNAUTHORIZED without an account and EFORBIDDEN unless
// the actor has at least role min. Transports may call it before reading a
// body, so an unauthorized caller learns nothing from validation.
func (a Actor) Require(min Role) error {
	if a.AccountID == "" {
		return Errorf(EUNAUTHORIZED, "Authentication is required.")
	}
	if a.Role < min {
		return Errorf(EFORBIDDEN, "This action needs the %s role or higher.", min)
	}
	return nil
}

// CanSeeSite reports whether the actor may touch the given site.
func (a Actor) CanSeeSite(siteID string) bool {
	return a.Sites == nil || slices.Contains(a.Sites, siteID)
}
