package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/url"
	"strings"
	"time"
)

// slackScheme: X-Slack-Signature is "v0=" and the hex HMAC-SHA256 of
// "v0:{X-Slack-Request-Timestamp}:{raw body}" with the app's signing
// secret; the timestamp must be within Window of now. Events API bodies
// are JSON; slash commands and interactivity post forms, signed the same.
type slackScheme struct{}

func (slackScheme) Locate(r Request) (string, string) {
	return hookIDFromPath(r.Path, "slack"), ""
}

func (slackScheme) Verify(r Request, k Keys, now time.Time) error {
	if k.AppSecret == "" {
		return unauthorized("no signing secret configured")
	}
	ts := r.Header.Get("X-Slack-Request-Timestamp")
	if err := checkFresh("X-Slack-Request-Timestamp", ts, now); err != nil {
		return err
	}
	sig, ok := strings.CutPrefix(r.Header.Get("X-Slack-Signature"), "v0=")
	if !ok {
		return unauthorized("X-Slack-Signature missing or not v0")
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return unauthorized("X-Slack-Signature not hex")
	}
	if !hmac.Equal(got, slackMAC(k.AppSecret, ts, r.Body)) {
		return unauthorized("X-Slack-Signature")
	}
	return nil
}

func slackMAC(secret, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:"))
	mac.Write([]byte(ts))
	mac.Write([]byte(":"))
	mac.Write(body)
	return mac.Sum(nil)
}

// slackEnvelope is the Events API body: its own type, the event's, and
// whose workspace (or org, for org-wide installs) it is.
type slackEnvelope struct {
	Type         string  `json:"type"`
	Challenge    string  `json:"challenge"`
	EventID      string  `json:"event_id"`
	TeamID       string  `json:"team_id"`
	EnterpriseID *string `json:"enterprise_id"` // null outside Enterprise Grid
	Event        struct {
		Type string `json:"type"`
	} `json:"event"`
	Authorizations []struct {
		TeamID       *string `json:"team_id"`
		EnterpriseID *string `json:"enterprise_id"`
	} `json:"authorizations"`
}

func (slackScheme) Parse(r Request) (Delivery, error) {
	d := Delivery{Platform: "slack", HookID: hookIDFromPath(r.Path, "slack")}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		return parseSlackForm(d, r.Body)
	}
	var env slackEnvelope
	if err := json.Unmarshal(r.Body, &env); err != nil {
		return Delivery{}, badRequest("body is not a JSON object")
	}
	d.Event = env.Type
	switch env.Type {
	case "url_verification":
		// Answered only now, after the signature held.
		if env.Challenge == "" {
			return Delivery{}, badRequest("challenge missing")
		}
		d.Reply, _ = json.Marshal(map[string]string{"challenge": env.Challenge})
		d.ReplyType = "application/json"
		return d, nil
	case "app_rate_limited":
		// A notice that Slack is dropping events: nothing to process.
		d.Ack = true
		return d, nil
	case "event_callback":
	default:
		return Delivery{}, badRequest("type is not an Events API type")
	}
	if d.ID = env.EventID; d.ID == "" {
		return Delivery{}, badRequest("event_id missing")
	}
	if d.Event = env.Event.Type; d.Event == "" {
		return Delivery{}, badRequest("event.type missing")
	}
	d.Account = env.TeamID
	if d.Account == "" && len(env.Authorizations) > 0 {
		a := env.Authorizations[0]
		if a.TeamID != nil && *a.TeamID != "" {
			d.Account = *a.TeamID
		} else if a.EnterpriseID != nil {
			d.Account = *a.EnterpriseID
		}
	}
	if d.Account == "" && env.EnterpriseID != nil {
		d.Account = *env.EnterpriseID
	}
	if d.Account == "" {
		return Delivery{}, badRequest("team_id missing")
	}
	return d, nil
}

// parseSlackForm reads a slash command (command, team_id, trigger_id) or an
// interactivity payload (payload: JSON with type, team.id, trigger_id).
func parseSlackForm(d Delivery, body []byte) (Delivery, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return Delivery{}, badRequest("form body")
	}
	if p := form.Get("payload"); p != "" {
		var pl struct {
			Type      string `json:"type"`
			TriggerID string `json:"trigger_id"`
			ActionTS  string `json:"action_ts"`
			Team      *struct {
				ID string `json:"id"`
			} `json:"team"`
		}
		if json.Unmarshal([]byte(p), &pl) != nil {
			return Delivery{}, badRequest("payload is not a JSON object")
		}
		d.Event, d.ID = pl.Type, pl.TriggerID
		if d.ID == "" {
			d.ID = pl.ActionTS
		}
		if pl.Team != nil {
			d.Account = pl.Team.ID
		}
	} else {
		d.Event, d.ID, d.Account = "slash_command", form.Get("trigger_id"), form.Get("team_id")
	}
	switch {
	case d.Event == "":
		return Delivery{}, badRequest("type missing")
	case d.ID == "":
		return Delivery{}, badRequest("trigger_id missing")
	case d.Account == "":
		return Delivery{}, badRequest("team_id missing")
	}
	return d, nil
}
