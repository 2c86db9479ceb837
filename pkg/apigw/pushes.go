package apigw

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// pushDetailJSON is one push as GET …/pushes/{push_id} shows it: with its
// data and, in conflict, the platform's version it met.
type pushDetailJSON struct {
	pushJSON
	Data             json.RawMessage `json:"data,omitempty"`
	Remote           json.RawMessage `json:"remote,omitempty"`
	RemoteModifiedAt *time.Time      `json:"remote_modified_at,omitempty"`
}

func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return b
}

func pushDetail(p *integration.Push, remote *integration.PushRemote) pushDetailJSON {
	out := pushDetailJSON{pushJSON: pushToJSON(p), Data: rawJSON(p.Data)}
	if remote != nil {
		out.Remote = rawJSON(remote.Data)
		if !remote.ModifiedAt.IsZero() {
			at := remote.ModifiedAt
			out.RemoteModifiedAt = &at
		}
	}
	return out
}

// showPush answers with a push in full.
func (a *SyncAPI) showPush(ctx context.Context, p *integration.Push) (events.APIGatewayV2HTTPResponse, error) {
	remote, err := a.Engine.PushRemote(ctx, p)
	if err != nil {
		return none, err
	}
	return jsonResponse(http.StatusOK, pushDetail(p, remote)), nil
}

// Pushes handles GET /v1/integrations/{id}/pushes?status=&local_id=: the
// integration's pushes newest first, without their data.
func (a *SyncAPI) Pushes() Handler {
	return a.route("GET /v1/integrations/{id}/pushes", integration.RoleViewer, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		q := req.QueryStringParameters
		limit, err := limitParam(q)
		if err != nil {
			return none, err
		}
		var page syncer.PushPage
		next, err := a.page(ctx, q["cursor"], func(cursor string) (int, string, error) {
			page, err = a.Engine.Pushes(ctx, actor, req.PathParameters["id"], q["status"], q["local_id"], limit, cursor)
			return len(page.Items), page.NextCursor, err
		})
		if err != nil {
			return none, err
		}
		out := struct {
			Items      []pushJSON `json:"items"`
			NextCursor string     `json:"next_cursor,omitempty"`
		}{Items: make([]pushJSON, len(page.Items)), NextCursor: next}
		for i, p := range page.Items {
			out.Items[i] = pushToJSON(p)
		}
		return jsonResponse(http.StatusOK, out), nil
	})
}

// ResolvePush handles POST /v1/integrations/{id}/pushes/{push_id}/resolve
// {"use": "local"|"remote"}: 200 with the push, settled; 409 if it is not
// in conflict.
func (a *SyncAPI) ResolvePush() Handler {
	return a.route("POST /v1/integrations/{id}/pushes/{push_id}/resolve", integration.RoleEditor, func(ctx context.Context, actor integration.Actor, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		var in struct {
			Use string `json:"use"`
		}
		if err := decode(req, &in); err != nil {
			return none, err
		}
		p, err := a.Engine.ResolvePush(ctx, actor, req.PathParameters["id"], req.PathParameters["push_id"], in.Use)
		if err != nil {
			return none, err
		}
		return jsonResponse(http.StatusOK, pushDetail(p, nil)), nil
	})
}
