package webhook

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func fixtureOf(t *testing.T, platform string) fixture {
	t.Helper()
	for _, f := range fixtures(t) {
		if f.platform == platform {
			return f
		}
	}
	t.Fatalf("no fixture for %s", platform)
	return fixture{}
}

func verify(f fixture, r Request, k Keys) error {
	s, _ := For(f.platform)
	return s.Verify(r, k, now)
}

func TestHookIDInPath(t *testing.T) {
	for _, platform := range []string{"jira", "trello", "wordpress"} {
		t.Run(platform, func(t *testing.T) {
			f := fixtureOf(t, platform)
			for name, path := range map[string]string{
				"missing":  "/webhooks/" + platform,
				"empty":    "/webhooks/" + platform + "/",
				"wrong":    "/webhooks/" + platform + "/0b1de3c27a4f4e0d8c6b5a4938271605",
				"prefix":   "/webhooks/" + platform + "/" + hookIDOf(f)[:10],
				"longer":   "/webhooks/" + platform + "/" + hookIDOf(f) + "0",
				"extra":    "/webhooks/" + platform + "/" + hookIDOf(f) + "/x",
				"other":    "/webhooks/slack/" + hookIDOf(f),
				"its hash": "/webhooks/" + platform + "/" + Hash(hookIDOf(f)),
				"its case": "/webhooks/" + platform + "/" + swapCase(hookIDOf(f)),
			} {
				r := clone(f.req)
				r.Path = path
				if err := verify(f, r, f.keys); err == nil {
					t.Errorf("%s hook id (%s) verified", name, path)
				}
			}
			// A CDN's origin path before /webhooks/ is allowed.
			r := clone(f.req)
			r.Path = "/prod" + f.req.Path
			if err := verify(f, r, f.keys); err != nil {
				t.Errorf("behind an origin path: %v", err)
			}
			// The hook id as given, as its hash, or both.
			id := hookIDOf(f)
			for _, k := range []Keys{{HookID: id}, {HookIDHash: Hash(id)}, {HookID: id, HookIDHash: Hash(id)}} {
				k.AppSecret, k.HookSecret, k.CallbackURL = f.keys.AppSecret, f.keys.HookSecret, f.keys.CallbackURL
				if err := verify(f, f.req, k); err != nil {
					t.Errorf("keys %+v: %v", k.HookID+"/"+k.HookIDHash, err)
				}
			}
			k := f.keys
			k.HookID, k.HookIDHash = id, Hash("another")
			wantUnauthorized(t, verify(f, f.req, k), f.req, k)
			k.HookID, k.HookIDHash = "", ""
			wantUnauthorized(t, verify(f, f.req, k), f.req, k)
		})
	}
}

func swapCase(s string) string {
	if u := strings.ToUpper(s); u != s {
		return u
	}
	return strings.ToLower(s)
}

func hookIDOf(f fixture) string { return f.req.Path[strings.LastIndex(f.req.Path, "/")+1:] }

func TestJiraAuthentication(t *testing.T) {
	f := fixtureOf(t, "jira")
	hook := func(h ...string) Request {
		r := clone(f.req)
		r.Header = header(append([]string{"X-Atlassian-Webhook-Identifier", "1a2b3c4d-0001"}, h...)...)
		return r
	}
	tokenWith := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	fresh := jwt.MapClaims{"iss": "jira", "exp": now.Add(time.Minute).Unix()}
	bearer := "Bearer " + tokenWith(jwt.SigningMethodHS256, []byte(jiraClient), fresh)
	expired, _ := SignJiraJWT(jiraClient, now.Add(-time.Second))
	wrongKey, _ := SignJiraJWT("another-client-secret", now.Add(time.Minute))
	hs512 := "JWT " + tokenWith(jwt.SigningMethodHS512, []byte(jiraClient), fresh)
	noExp := "JWT " + tokenWith(jwt.SigningMethodHS256, []byte(jiraClient), jwt.MapClaims{"iss": "jira"})
	none := "JWT " + tokenWith(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, fresh)
	dynamic := Keys{HookIDHash: Hash(hookID), AppSecret: jiraClient}

	// A dynamic webhook may come unsigned: the hook id is then enough.
	if err := verify(f, hook(), dynamic); err != nil {
		t.Errorf("unsigned delivery to its hook id: %v", err)
	}
	if err := verify(f, hook("Authorization", bearer), dynamic); err != nil {
		t.Errorf("Bearer JWT: %v", err)
	}
	for name, auth := range map[string]string{
		"expired": expired, "wrong key": wrongKey, "HS512": hs512, "no exp": noExp,
		"alg none": none, "basic": "Basic dXNlcjpwYXNz", "empty JWT": "JWT ", "garbage": "JWT a.b.c",
	} {
		r := hook("Authorization", auth)
		if err := verify(f, r, dynamic); err == nil {
			t.Errorf("%s Authorization verified", name)
		} else {
			wantUnauthorized(t, err, r, dynamic)
		}
	}
	// A JWT with no client secret configured is not checked: refused.
	r := hook("Authorization", bearer)
	wantUnauthorized(t, verify(f, r, Keys{HookIDHash: Hash(hookID)}), r, Keys{})
	// An admin webhook's signature without a registered secret, or a
	// registered secret without a signature, is refused.
	r = hook("X-Hub-Signature", SignJiraHub(jiraSecret, r.Body))
	wantUnauthorized(t, verify(f, r, dynamic), r, dynamic)
	wantUnauthorized(t, verify(f, hook(), f.keys), f.req, f.keys)
	r = hook("X-Hub-Signature", strings.Replace(SignJiraHub(jiraSecret, r.Body), "sha256=", "sha1=", 1))
	wantUnauthorized(t, verify(f, r, f.keys), r, f.keys)
	// Both present: both are checked.
	r = hook("X-Hub-Signature", SignJiraHub(jiraSecret, f.req.Body), "Authorization", expired)
	wantUnauthorized(t, verify(f, r, f.keys), r, f.keys)
}

func TestTrelloHeadAndCallbackURL(t *testing.T) {
	f := fixtureOf(t, "trello")
	head := Request{Method: http.MethodHead, Path: f.req.Path, Header: http.Header{}}
	if err := verify(f, head, Keys{}); err != nil {
		t.Errorf("HEAD check: %v", err)
	}
	s, _ := For("trello")
	if d, err := s.Parse(head); err != nil || !d.Ack {
		t.Errorf("HEAD parsed to %+v, %v; want Ack", d, err)
	}
	// The URL as registered, byte for byte: never what the request says.
	for _, u := range []string{trelloURL + "/", strings.ToUpper(trelloURL[:5]) + trelloURL[5:], strings.Replace(trelloURL, "https", "http", 1)} {
		k := f.keys
		k.CallbackURL = u
		wantUnauthorized(t, verify(f, f.req, k), f.req, k)
	}
	k := f.keys
	k.CallbackURL = ""
	wantUnauthorized(t, verify(f, f.req, k), f.req, k)
}

func TestSeveralSignatures(t *testing.T) {
	t.Run("wordpress", func(t *testing.T) {
		f := fixtureOf(t, "wordpress")
		good := f.req.Header.Get("Webhook-Signature")
		other := SignStandard("whsec_"+strings.Repeat("B", 43)+"=", "msg_2b7Yc0q", now, f.req.Body)
		for _, v := range []string{other + " " + good, good + " " + other, "v2,abc " + good, "v1a," + good[3:] + " " + good} {
			r := clone(f.req)
			r.Header.Set("Webhook-Signature", v)
			if err := verify(f, r, f.keys); err != nil {
				t.Errorf("%q: %v", v, err)
			}
		}
		for _, v := range []string{other, "v2," + good[3:], good[3:], "v1,"} {
			r := clone(f.req)
			r.Header.Set("Webhook-Signature", v)
			wantUnauthorized(t, verify(f, r, f.keys), r, f.keys)
		}
		// The secret's key is the base64 after whsec_: the prefix is
		// optional, anything not base64 never verifies.
		for secret, ok := range map[string]bool{
			strings.TrimPrefix(wpSecret, "whsec_"): true, wpSecret + "!": false, "whsec_": false, "": false,
		} {
			k := f.keys
			k.HookSecret = secret
			if err := verify(f, f.req, k); (err == nil) != ok {
				t.Errorf("secret %q: got %v, want verified %v", secret, err, ok)
			}
		}
		if SignStandard("whsec_!", "id", now, nil) != "" {
			t.Error("a secret that is not base64 signs")
		}
	})
	t.Run("tiktok", func(t *testing.T) {
		f := fixtureOf(t, "tiktok")
		good := f.req.Header.Get("Tiktok-Signature")
		ts, s, _ := strings.Cut(good, ",")
		for _, v := range []string{ts + ",s=00ff," + s, s + "," + ts, " " + ts + " , " + s + " "} {
			r := clone(f.req)
			r.Header.Set("Tiktok-Signature", v)
			if err := verify(f, r, f.keys); err != nil {
				t.Errorf("%q: %v", v, err)
			}
		}
		for _, v := range []string{ts, s, ts + ",s=zz", "t=," + s, "t=abc," + s} {
			r := clone(f.req)
			r.Header.Set("Tiktok-Signature", v)
			wantUnauthorized(t, verify(f, r, f.keys), r, f.keys)
		}
	})
}

func TestGoogleToken(t *testing.T) {
	f := fixtureOf(t, "google_calendar")
	for _, h := range []string{"", "zz", Hash(channelToken)[:63], strings.ToUpper(Hash(channelToken + "x"))} {
		k := Keys{TokenHash: h}
		wantUnauthorized(t, verify(f, f.req, k), f.req, k)
	}
	// A stored hash in upper case still matches.
	if err := verify(f, f.req, Keys{TokenHash: strings.ToUpper(Hash(channelToken))}); err != nil {
		t.Error(err)
	}
}

func TestSignersAreDistinct(t *testing.T) {
	body := []byte(`{"id":1}`)
	if got := SignShopify("hush", body); got != "VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY=" {
		t.Errorf("SignShopify = %q", got)
	}
	a, err := NewStandardSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewStandardSecret()
	if a == b || !strings.HasPrefix(a, "whsec_") || len(a) != len("whsec_")+44 {
		t.Errorf("NewStandardSecret: %q, %q", a, b)
	}
	if SignStandard(a, "id", now, body) == SignStandard(b, "id", now, body) {
		t.Error("two secrets sign alike")
	}
}
