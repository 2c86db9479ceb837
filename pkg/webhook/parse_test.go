package webhook

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// with returns the fixture's request with headers set (a "" value deletes)
// and, when body is not "", the body replaced.
func with(f fixture, body string, kv ...string) Request {
	r := clone(f.req)
	if body != "" {
		r.Body = []byte(body)
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			r.Header.Del(kv[i])
		} else {
			r.Header.Set(kv[i], kv[i+1])
		}
	}
	return r
}

type parseCase struct {
	name string
	req  Request
	want *Delivery // nil: ErrBadRequest
}

func runParse(t *testing.T, platform string, cases []parseCase) {
	t.Helper()
	s, _ := For(platform)
	for _, c := range cases {
		t.Run(platform+"/"+c.name, func(t *testing.T) {
			got, err := s.Parse(c.req)
			if c.want == nil {
				if !errors.Is(err, ErrBadRequest) {
					t.Fatalf("got %+v, %v; want ErrBadRequest", got, err)
				}
				if len(c.req.Body) > 12 && strings.Contains(err.Error(), string(c.req.Body)) {
					t.Fatalf("error %q quotes the body", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, *c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, *c.want)
			}
		})
	}
}

func TestParseShopify(t *testing.T) {
	f := fixtureOf(t, "shopify")
	d := Delivery{Platform: "shopify", ID: "98880550-7158-44d4-b7cd-2c97c8a091b5", Event: "products/update",
		Account: "acme.myshopify.com", Model: "products", ObjectIDs: []string{"9554194432293"}}
	byWebhookID := d
	byWebhookID.ID = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
	redact := Delivery{Platform: "shopify", ID: d.ID, Event: "shop/redact", Account: d.Account}
	big := d
	big.ObjectIDs = []string{"123456789012345678901"}
	events := Request{Method: http.MethodPost, Path: "/webhooks/shopify", Body: []byte(shopifyBody), Header: header(
		"Shopify-Topic", "products/update", "Shopify-Shop-Domain", "acme.myshopify.com",
		"Shopify-Event-Id", d.ID, "Shopify-Hmac-Sha256", SignShopify(shopSecret, []byte(shopifyBody)))}
	runParse(t, "shopify", []parseCase{
		{"product update", f.req, &d},
		{"webhook id when no event id", with(f, "", "X-Shopify-Event-Id", ""), &byWebhookID},
		{"no id in the body", with(f, `{"shop_id":954889,"shop_domain":"acme.myshopify.com"}`, "X-Shopify-Topic", "shop/redact"), &redact},
		{"id beyond float precision", with(f, `{"id":123456789012345678901}`), &big},
		{"events headers without X-", events, &d},
		{"no delivery id", with(f, "", "X-Shopify-Event-Id", "", "X-Shopify-Webhook-Id", ""), nil},
		{"no topic", with(f, "", "X-Shopify-Topic", ""), nil},
		{"no shop domain", with(f, "", "X-Shopify-Shop-Domain", ""), nil},
		{"body not JSON", with(f, "id=1"), nil},
	})
	if err := (shopifyScheme{}).Verify(events, Keys{AppSecret: shopSecret}, now); err != nil {
		t.Errorf("Events delivery signed without the X- prefix: %v", err)
	}
}

func TestParseSlack(t *testing.T) {
	f := fixtureOf(t, "slack")
	callback := Delivery{Platform: "slack", ID: "Ev043T7CKN84", Event: "message", Account: "T043DB835ML"}
	slash := Delivery{Platform: "slack", ID: "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
		Event: "slash_command", Account: "T1DC2JH3J"}
	var slashBody string
	for _, v := range loadVectors(t) {
		if v.Scheme == "slack-v0" {
			slashBody = v.Body
		}
	}
	form := func(body string) Request {
		return with(f, body, "Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	runParse(t, "slack", []parseCase{
		{"event_callback", f.req, &callback},
		{"url_verification", with(f, `{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`),
			&Delivery{Platform: "slack", Event: "url_verification", ReplyType: "application/json",
				Reply: []byte(`{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}`)}},
		{"url_verification without challenge", with(f, `{"type":"url_verification"}`), nil},
		{"app_rate_limited", with(f, `{"type":"app_rate_limited","team_id":"T1","minute_rate_limited":1518467820}`),
			&Delivery{Platform: "slack", Event: "app_rate_limited", Ack: true}},
		{"team from authorizations", with(f, `{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"},"authorizations":[{"enterprise_id":null,"team_id":"T9"}]}`),
			&Delivery{Platform: "slack", ID: "Ev1", Event: "app_mention", Account: "T9"}},
		{"org-wide install", with(f, `{"type":"event_callback","event_id":"Ev2","event":{"type":"team_join"},"enterprise_id":"E1","authorizations":[{"enterprise_id":"E1","team_id":null}]}`),
			&Delivery{Platform: "slack", ID: "Ev2", Event: "team_join", Account: "E1"}},
		{"no team", with(f, `{"type":"event_callback","event_id":"Ev3","event":{"type":"message"}}`), nil},
		{"no event_id", with(f, `{"type":"event_callback","team_id":"T1","event":{"type":"message"}}`), nil},
		{"no event type", with(f, `{"type":"event_callback","team_id":"T1","event_id":"Ev4"}`), nil},
		{"unknown type", with(f, `{"type":"something_else","team_id":"T1"}`), nil},
		{"not JSON", with(f, `token=x`), nil},
		{"slash command", form(slashBody), &slash},
		{"interactivity", form(`payload=%7B%22type%22%3A%22block_actions%22%2C%22trigger_id%22%3A%2212.34.ab%22%2C%22team%22%3A%7B%22id%22%3A%22T5%22%7D%7D`),
			&Delivery{Platform: "slack", ID: "12.34.ab", Event: "block_actions", Account: "T5"}},
		{"form without trigger", form(`command=%2Fx&team_id=T1`), nil},
		{"payload not JSON", form(`payload=nope`), nil},
	})
}

func TestParseTikTok(t *testing.T) {
	f := fixtureOf(t, "tiktok")
	read1 := `{"event":"im_mark_read_msg","user_openid":"biz-123","content":"{\"conversation_id\":\"c1\",\"read\":{\"last_read_timestamp\":1700000000001}}"}`
	read2 := strings.Replace(read1, "001}", "002}", 1)
	s := tiktokScheme{}
	d1, err1 := s.Parse(with(f, read1))
	d1again, _ := s.Parse(with(f, read1))
	d2, err2 := s.Parse(with(f, read2))
	if err1 != nil || err2 != nil || d1.ID != d1again.ID || d1.ID == d2.ID || !strings.HasSuffix(d1.ID, "#im_mark_read_msg") {
		t.Errorf("a read event's id is its body's hash: %q, %q, %q (%v, %v)", d1.ID, d1again.ID, d2.ID, err1, err2)
	}
	runParse(t, "tiktok", []parseCase{
		{"message", f.req, &Delivery{Platform: "tiktok", ID: "tt-msg-1#im_receive_msg", Event: "im_receive_msg",
			Account: "biz-123", Model: "conversation", ObjectIDs: []string{"tt-conv-1"}}},
		{"echo of the same message", with(f, strings.Replace(tiktokBody, "im_receive_msg", "im_send_msg", 1)),
			&Delivery{Platform: "tiktok", ID: "tt-msg-1#im_send_msg", Event: "im_send_msg",
				Account: "biz-123", Model: "conversation", ObjectIDs: []string{"tt-conv-1"}}},
		{"open_id", with(f, `{"event":"x","open_id":"o1","content":"{\"message_id\":\"m\"}"}`),
			&Delivery{Platform: "tiktok", ID: "m#x", Event: "x", Account: "o1"}},
		{"no account", with(f, `{"event":"im_receive_msg","content":"{\"message_id\":\"m\"}"}`), nil},
		{"no event", with(f, `{"user_openid":"b","content":"{\"message_id\":\"m\"}"}`), nil},
		{"content not JSON", with(f, `{"event":"e","user_openid":"b","content":"{"}`), nil},
		{"not JSON", with(f, `[`), nil},
	})
}

func TestParseGoogle(t *testing.T) {
	f := fixtureOf(t, "google_calendar")
	ch := "01234567-89ab-cdef-0123456789ab"
	runParse(t, "google_calendar", []parseCase{
		{"change", f.req, &Delivery{Platform: "google_calendar", ID: ch + "#7", Event: "exists", Account: ch}},
		{"sync", with(f, "", "X-Goog-Resource-State", "sync", "X-Goog-Message-Number", "1"),
			&Delivery{Platform: "google_calendar", ID: ch + "#1", Event: "sync", Account: ch, Ack: true}},
		{"gone", with(f, "", "X-Goog-Resource-State", "not_exists"),
			&Delivery{Platform: "google_calendar", ID: ch + "#7", Event: "not_exists", Account: ch}},
		{"no message number", with(f, "", "X-Goog-Message-Number", ""), nil},
		{"message number not a number", with(f, "", "X-Goog-Message-Number", "7#8"), nil},
		{"unknown state", with(f, "", "X-Goog-Resource-State", "exploded"), nil},
		{"no channel", with(f, "", "X-Goog-Channel-ID", ""), nil},
	})
	if _, channel := (googleScheme{}).Locate(f.req); channel != ch {
		t.Errorf("Locate: channel %q", channel)
	}
}

func TestParseJira(t *testing.T) {
	f := fixtureOf(t, "jira")
	runParse(t, "jira", []parseCase{
		{"issue updated", f.req, &Delivery{Platform: "jira", HookID: hookID, ID: "1a2b3c4d-0001",
			Event: "jira:issue_updated", Model: "issue", ObjectIDs: []string{"10001"}}},
		{"no issue", with(f, `{"webhookEvent":"project_created","project":{"id":10000}}`),
			&Delivery{Platform: "jira", HookID: hookID, ID: "1a2b3c4d-0001", Event: "project_created"}},
		{"no identifier", with(f, "", "X-Atlassian-Webhook-Identifier", ""), nil},
		{"no webhookEvent", with(f, `{"issue":{"id":"1"}}`), nil},
		{"not JSON", with(f, `<xml/>`), nil},
	})
}

func TestParseTrello(t *testing.T) {
	f := fixtureOf(t, "trello")
	runParse(t, "trello", []parseCase{
		{"card update", f.req, &Delivery{Platform: "trello", HookID: hookID, ID: "5f1a2b3c4d5e6f7a8b9c0d1e",
			Event: "updateCard", Model: "card", ObjectIDs: []string{"6a7b8c9d0e1f2a3b4c5d6e7f"}}},
		{"board action", with(f, `{"action":{"id":"a1","type":"updateBoard","data":{"board":{"id":"b1"}}}}`),
			&Delivery{Platform: "trello", HookID: hookID, ID: "a1", Event: "updateBoard"}},
		{"no action id", with(f, `{"action":{"type":"updateCard"}}`), nil},
		{"no action type", with(f, `{"action":{"id":"a1"}}`), nil},
		{"not JSON", with(f, `x`), nil},
	})
}

func TestParseWordPress(t *testing.T) {
	f := fixtureOf(t, "wordpress")
	const it = "01JD4ZQ8N6V3WQ9KX2T5R7M8PA"
	want := func(action, model, id string) *Delivery {
		return &Delivery{Platform: "wordpress", HookID: it, ID: "msg_2b7Yc0q", Event: action, Model: model, ObjectIDs: []string{id}}
	}
	body := func(action, id, typ string) string {
		return `{"action":"` + action + `","post_id":` + id + `,"post_type":` + typ + `,"site_url":"https://blog.example.com"}`
	}
	cases := []parseCase{{"post updated", f.req, want("post_updated", "post", "42")}}
	for _, a := range []string{"post_created", "post_updated", "post_trashed", "post_untrashed", "post_deleted"} {
		cases = append(cases, parseCase{a, with(f, body(a, "7", `"page"`)), want(a, "page", "7")})
	}
	cases = append(cases, []parseCase{
		{"custom post type", with(f, body("post_updated", "9", `"product_variation"`)), want("post_updated", "product_variation", "9")},
		{"post id as a string", with(f, body("post_updated", `"42"`, `"post"`)), want("post_updated", "post", "42")},
		{"post id with leading zeros", with(f, body("post_updated", `"0042"`, `"post"`)), want("post_updated", "post", "42")},
		{"other action", with(f, body("post_published", "1", `"post"`)), nil},
		{"no action", with(f, `{"post_id":1,"post_type":"post"}`), nil},
		{"post id zero", with(f, body("post_updated", "0", `"post"`)), nil},
		{"post id negative", with(f, body("post_updated", "-1", `"post"`)), nil},
		{"post id fractional", with(f, body("post_updated", "1.5", `"post"`)), nil},
		{"post id exponent", with(f, body("post_updated", "1e3", `"post"`)), nil},
		{"post id text", with(f, body("post_updated", `"abc"`, `"post"`)), nil},
		{"post id null", with(f, body("post_updated", "null", `"post"`)), nil},
		{"no post id", with(f, `{"action":"post_updated","post_type":"post"}`), nil},
		{"no post type", with(f, body("post_updated", "1", `""`)), nil},
		{"post type not a key", with(f, body("post_updated", "1", `"Post Type"`)), nil},
		{"post type too long", with(f, body("post_updated", "1", `"`+strings.Repeat("a", 21)+`"`)), nil},
		{"no webhook-id", with(f, "", "Webhook-Id", ""), nil},
		{"not JSON", with(f, `action=post_updated`), nil},
	}...)
	runParse(t, "wordpress", cases)
}

func TestPlatformsHaveSchemes(t *testing.T) {
	if len(schemes) != len(Platforms) {
		t.Errorf("%d schemes for %d platforms", len(schemes), len(Platforms))
	}
	for _, p := range Platforms {
		s, ok := For(p)
		if !ok {
			t.Errorf("%s: no scheme", p)
			continue
		}
		// Locate reads the path's hook id and trusts nothing else.
		if id, _ := s.Locate(Request{Path: "/webhooks/" + p + "/abc"}); id != "abc" {
			t.Errorf("%s: Locate hook id %q", p, id)
		}
		if id, _ := s.Locate(Request{Path: "/webhooks/" + p, Header: http.Header{}}); id != "" {
			t.Errorf("%s: Locate hook id %q without one", p, id)
		}
	}
	if _, ok := For("github"); ok {
		t.Error("a scheme for a platform that posts no webhooks")
	}
}

func TestParseBoundsWhatIsQueued(t *testing.T) {
	long := strings.Repeat("a", maxField+1)
	for _, c := range []struct {
		platform string
		req      func(f fixture) Request
	}{
		{"jira", func(f fixture) Request { return with(f, "", "X-Atlassian-Webhook-Identifier", long) }},
		{"shopify", func(f fixture) Request { return with(f, "", "X-Shopify-Topic", long) }},
		{"shopify", func(f fixture) Request { return with(f, `{"id":"`+long+`"}`) }},
		{"trello", func(f fixture) Request { return with(f, `{"action":{"id":"a","type":"`+long+`"}}`) }},
		{"google_calendar", func(f fixture) Request { return with(f, "", "X-Goog-Channel-ID", long) }},
	} {
		s, _ := For(c.platform)
		if _, err := s.Parse(c.req(fixtureOf(t, c.platform))); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: a field of %d bytes parsed: %v", c.platform, maxField+1, err)
		}
	}
	// At the bound it is fine.
	s, _ := For("jira")
	if _, err := s.Parse(with(fixtureOf(t, "jira"), "", "X-Atlassian-Webhook-Identifier", long[1:])); err != nil {
		t.Error(err)
	}
}
