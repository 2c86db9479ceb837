package integration

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The examples of RFC 7396, Appendix A.
func TestMergePatchRFC7396(t *testing.T) {
	tests := []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.target+tt.patch, func(t *testing.T) {
			var target, patch, want map[string]any
			for _, p := range []struct {
				s string
				v *map[string]any
			}{{tt.target, &target}, {tt.patch, &patch}, {tt.want, &want}} {
				if err := json.Unmarshal([]byte(p.s), p.v); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := json.Marshal(target)
			got := MergePatch(target, patch)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			if after, _ := json.Marshal(target); string(after) != string(before) {
				t.Fatalf("target modified: %s", after)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url, wantErr string
	}{
		{"https://example.com", ""},
		{"http://127.0.0.1:8080/blog", ""},
		{"https://example.com/path?q=1", "query string"},
		{"https://example.com/?", "query string"},
		{"http://127.0.0.1:8080/blog/", ""},
		{"ftp://example.com", "http or https"},
		{"example.com", "http or https"},
		{"https://", "host"},
		{"https://user:pw@example.com", "user info"},
		{"https://example.com/#x", "fragment"},
		{"https://exa mple.com", "valid URL"},
		{"https://example.com:abc", "valid URL"},
		{"https://example.com/" + strings.Repeat("a", 3000), "at most"},
	}
	for _, tt := range tests {
		got := checkURL(tt.url)
		if (tt.wantErr == "") != (got == "") || !strings.Contains(got, tt.wantErr) {
			t.Errorf("checkURL(%q) = %q, want %q", tt.url, got, tt.wantErr)
		}
	}
}

func TestSiteID(t *testing.T) {
	for _, ok := range []string{"a", "site-1", "org:42.site_7", strings.Repeat("x", 128)} {
		if !ValidSiteID(ok) {
			t.Errorf("%q rejected", ok)
		}
	}
	for _, bad := range []string{"", "a b", "a/b", "é", strings.Repeat("x", 129)} {
		if ValidSiteID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRoles(t *testing.T) {
	if !(RoleViewer < RoleEditor && RoleEditor < RoleAdmin && RoleAdmin < RoleOwner) {
		t.Fatal("roles out of order")
	}
	a := Actor{AccountID: "a", Role: ParseRole("viewer")}
	if a.Require(RoleViewer) != nil || ErrorCode(a.Require(RoleEditor)) != EFORBIDDEN {
		t.Fatal("viewer checks")
	}
	if ErrorCode((Actor{Role: RoleOwner}).Require(RoleViewer)) != EUNAUTHORIZED {
		t.Fatal("no account must be unauthorized")
	}
	if ParseRole("root") != RoleNone {
		t.Fatal("unknown role parsed")
	}
}

func TestCheckCredentials(t *testing.T) {
	wp := Platform{Name: "wordpress", AuthMode: AuthBasic, Credentials: []CredentialField{
		{Name: "username", Required: true}, {Name: "app_password", Required: true, Secret: true, MaxLen: 10},
	}}
	oauth := Platform{Name: "slack", AuthMode: AuthOAuth2}
	tests := []struct {
		name  string
		p     Platform
		creds map[string]string
		want  map[string]string
	}{
		{"ok", wp, map[string]string{"username": "u", "app_password": "p"}, map[string]string{}},
		{"missing", wp, map[string]string{"username": "u"}, map[string]string{"credentials.app_password": "required"}},
		{"blank", wp, map[string]string{"username": " ", "app_password": "p"}, map[string]string{"credentials.username": "required"}},
		{"unknown", wp, map[string]string{"username": "u", "app_password": "p", "token": "t"}, map[string]string{"credentials.token": "unknown field for wordpress; expected username, app_password"}},
		{"too long", wp, map[string]string{"username": "u", "app_password": strings.Repeat("p", 11)}, map[string]string{"credentials.app_password": "must be at most 10 characters"}},
		{"oauth", oauth, map[string]string{"token": "t"}, map[string]string{"credentials": "slack is connected through OAuth; credentials cannot be set directly"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]string{}
			checkCredentials(got, tt.p, tt.creds)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for _, msg := range got {
				for _, v := range tt.creds {
					if len(v) > 2 && strings.Contains(msg, v) {
						t.Fatalf("message %q contains a credential value", msg)
					}
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	err := Invalid(map[string]string{"site_id": "required"})
	if ErrorCode(err) != EINVALID || ErrorFields(err)["site_id"] != "required" {
		t.Fatal(err)
	}
	plain := &json.SyntaxError{}
	if ErrorCode(plain) != EINTERNAL || ErrorMessage(plain) != "Internal error." {
		t.Fatal("non-domain errors must be internal")
	}
}

func TestServiceClock(t *testing.T) {
	fixed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	s := &Service{Now: func() time.Time { return fixed }}
	if got := s.now(); !got.Equal(fixed) || got.Location() != time.UTC {
		t.Fatalf("now() = %v", got)
	}
}
