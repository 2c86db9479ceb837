package syncer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/models"
)

// Pushes of the unified models (product, task …). Their data is the
// model's own fields, checked against its push schema when the push is
// taken (pkg/models), and written through the connector's Create and
// Update as a whole Record.Fields: the push's fields over the stored
// record's, so a field the push leaves out keeps its value, null clears
// it, and a value replaces it.

// ModelPusher is a connector that takes pushes of the models it names.
// A connector that pushes only unified models needs nothing else: their
// fields go through Connector.Create and Update, and a connector.Getter,
// if it has one, lets the engine see changes made on the platform since
// Joinery wrote an item (the conflict policies). Content models need the
// whole Pusher.
type ModelPusher interface {
	PushModels() []string
}

// PushChecker is a connector that checks a unified model's push against
// the integration's configuration when the push is taken, after its data
// fits the model's schema: a push the platform could never apply is
// refused at once (an *integration.Error, EUNPROCESSABLE naming the
// field, e.g. config.inventory_location_id) rather than failing later.
type PushChecker interface {
	CheckPush(config map[string]any, model string, data json.RawMessage) error
}

// ReadPushData reads a push's data for model: a unified model's as its
// own fields (checked by Push against the model's push schema), any other
// as content fields (ParsePushData).
func ReadPushData(model string, raw []byte) (PushData, error) {
	if !models.Unified(model) {
		return ParsePushData(raw)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return PushData{}, integration.Invalid(map[string]string{"data": "must be a JSON object"})
	}
	return PushData{Unified: json.RawMessage(raw)}, nil
}

// pushModelsOf are the models a connector takes pushes of; false if none.
func pushModelsOf(c connector.Connector) ([]string, bool) {
	if p, ok := c.(ModelPusher); ok {
		return p.PushModels(), true
	}
	return nil, false
}

// checkUnified adds to fields what is wrong with a push's data for model:
// a unified model's data must fit its push schema, and only a unified
// model's data is its own fields.
func checkUnified(model string, d PushData, fields map[string]string) error {
	switch {
	case !models.Unified(model):
		if d.Unified != nil {
			fields["data"] = "must hold the content fields of " + model
		}
	case d.Unified == nil:
		fields["data"] = fmt.Sprintf("must hold a %s's own fields (see GET /v1/models/%s)", model, model)
	default:
		err := models.ValidatePush(model, d.Unified)
		var ie *integration.Error
		switch {
		case err == nil:
		case errors.As(err, &ie) && ie.Code == integration.EINVALID:
			for k, v := range ie.Fields {
				fields[k] = v
			}
		default:
			return err
		}
	}
	return nil
}

// pushFields creates or updates a unified model's item with the push's
// fields over the stored record's.
func (e *Engine) pushFields(ctx context.Context, it *integration.Integration, m *integration.Mapping, p *integration.Push, owner string, overrule bool) (integration.PushStatus, integration.Record, error) {
	conn, c, err := e.conn(ctx, it)
	if err != nil {
		return "", integration.Record{}, err
	}
	if names, ok := pushModelsOf(c); !ok || !slices.Contains(names, p.Model) {
		return "", integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: fmt.Sprintf("Pushing %s to %s is not available.", p.Model, it.Platform)}
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(p.Data, &data); err != nil || data == nil {
		return "", integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: "The push's data could not be read."}
	}
	if m.ExternalID != "" {
		if g, ok := c.(connector.Getter); ok && conflictPolicy(it) != LocalWins && !overrule && !m.RemoteModified.IsZero() {
			remote, err := g.Get(ctx, conn, p.Model, m.ExternalID)
			if err != nil {
				return "", integration.Record{}, err
			}
			if remote.ModifiedAt.After(m.RemoteModified) {
				// As for content: see pushOne.
				m.RemoteModified = remote.ModifiedAt
				if conflictPolicy(it) == RemoteWins {
					if err := e.storeRecord(ctx, it, p.LocalID, remote); err != nil {
						return "", integration.Record{}, err
					}
				}
				return integration.PushConflict, remote, nil
			}
		}
	}
	rec, err := e.mergedRecord(ctx, it, m, p, data)
	if err != nil {
		return "", integration.Record{}, err
	}
	var out integration.Record
	if m.ExternalID == "" {
		out, err = c.Create(ctx, conn, rec)
	} else {
		out, err = c.Update(ctx, conn, rec)
	}
	if err != nil {
		return "", integration.Record{}, err
	}
	if out.ExternalID == "" {
		return "", integration.Record{}, &connector.Error{Kind: connector.ErrOther, Message: fmt.Sprintf("%s answered the push without the item's id.", it.Platform)}
	}
	if out.Model == "" {
		out.Model = p.Model
	}
	// Remembered at once: a retry after what follows fails must update
	// this item, not create another, and must not take its own write for
	// someone else's change.
	m.ExternalID, m.RemoteModified = out.ExternalID, out.ModifiedAt
	if err := e.Store.SaveMapping(ctx, m, owner); err != nil {
		return "", integration.Record{}, err
	}
	if err := e.storeRecord(ctx, it, p.LocalID, out); err != nil {
		return "", integration.Record{}, err
	}
	return integration.PushDone, out, nil
}

// mergedRecord is the record to write: the stored record's fields (for an
// item Joinery knows) with the push's fields over them.
func (e *Engine) mergedRecord(ctx context.Context, it *integration.Integration, m *integration.Mapping, p *integration.Push, data map[string]json.RawMessage) (integration.Record, error) {
	rec := integration.Record{Model: p.Model, ExternalID: m.ExternalID}
	fields := map[string]json.RawMessage{}
	if m.ExternalID != "" {
		stored, err := e.Store.GetRecord(ctx, it.ID, p.Model, m.ExternalID)
		switch {
		case integration.ErrorCode(err) == integration.ENOTFOUND:
		case err != nil:
			return rec, err
		case stored.Unreadable != "":
			// Only the push's fields are known.
		default:
			var rj RecordJSON
			if err := json.Unmarshal(stored.Data, &rj); err != nil {
				return rec, fmt.Errorf("decode stored %s %s: %w", p.Model, m.ExternalID, err)
			}
			rec.RawRef, rec.URL = rj.RawRef, rj.URL
			if rj.CreatedAt != nil {
				rec.CreatedAt = *rj.CreatedAt
			}
			if rj.ModifiedAt != nil {
				rec.ModifiedAt = *rj.ModifiedAt
			}
			if rj.Fields != nil {
				b, err := json.Marshal(rj.Fields)
				if err != nil {
					return rec, err
				}
				if err := json.Unmarshal(b, &fields); err != nil {
					return rec, err
				}
			}
		}
	}
	for k, v := range data {
		if string(v) == "null" {
			delete(fields, k) // null clears the field
			continue
		}
		fields[k] = v
	}
	merged, err := json.Marshal(fields)
	if err != nil {
		return rec, err
	}
	f := integration.NewFields(p.Model)
	if f == nil {
		return rec, &connector.Error{Kind: connector.ErrInvalid, Message: fmt.Sprintf("%s is not a unified model.", p.Model)}
	}
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(f); err != nil {
		// Checked against the schema when taken: only data stored by a
		// release with another shape can get here.
		return rec, &connector.Error{Kind: connector.ErrInvalid, Message: fmt.Sprintf("The push's data does not fit a %s: %v", p.Model, err)}
	}
	rec.Fields = f
	return rec, nil
}
