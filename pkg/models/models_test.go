package models_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/models"
	"github.com/joinery/joinery/pkg/syncer"
)

// TestEveryModelHasADocumentedSchema: every model the records carry has a
// draft 2020-12 schema, with a description on every property and
// definition, and the enums the shapes name.
func TestEveryModelHasADocumentedSchema(t *testing.T) {
	want := append(slices.Clone(integration.ContentModels), "product", "calendar_event", "task", "conversation", "message")
	if got := models.Names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("models %v, want %v", got, want)
	}
	for _, m := range models.All() {
		if m.Category == "" || m.Description == "" {
			t.Errorf("%s: category %q description %q", m.Name, m.Category, m.Description)
		}
		if got, _ := models.Get(m.Name); got.Name != m.Name {
			t.Errorf("Get(%s) = %+v", m.Name, got)
		}
		for name, s := range map[string]json.RawMessage{"schema": m.Schema, "push schema": m.PushSchema} {
			if s == nil {
				if name == "push schema" && m.Content() {
					continue
				}
				t.Errorf("%s: no %s", m.Name, name)
				continue
			}
			var doc map[string]any
			if err := json.Unmarshal(s, &doc); err != nil {
				t.Fatalf("%s %s: %v", m.Name, name, err)
			}
			if doc["$schema"] != models.SchemaDraft {
				t.Errorf("%s %s: $schema %v", m.Name, name, doc["$schema"])
			}
			undocumented(t, m.Name+" "+name, doc)
		}
	}
	if _, ok := models.Get("invoice"); ok {
		t.Error("an unknown model was found")
	}
	enums := map[string][]string{
		"product":         {"properties.status.enum"},
		"task":            {"$defs.task_status.properties.category.enum"},
		"message":         {"properties.direction.enum"},
		"calendar_event":  {"$defs.when.oneOf"},
		"calendar_event ": {"properties.status.enum"},
	}
	for model, paths := range enums {
		m, _ := models.Get(strings.TrimSpace(model))
		var doc any
		_ = json.Unmarshal(m.Schema, &doc)
		for _, p := range paths {
			if at(doc, p) == nil {
				t.Errorf("%s: no %s", model, p)
			}
		}
	}
	m, _ := models.Get("task")
	var doc any
	_ = json.Unmarshal(m.Schema, &doc)
	if got := at(doc, "$defs.task_status.properties.category.enum"); !reflect.DeepEqual(got, []any{"todo", "in_progress", "done"}) {
		t.Errorf("task status categories %v", got)
	}
}

func at(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// undocumented fails for every property or definition without a
// description.
func undocumented(t *testing.T, where string, node any) {
	t.Helper()
	switch n := node.(type) {
	case map[string]any:
		for _, key := range []string{"properties", "$defs"} {
			children, _ := n[key].(map[string]any)
			for name, c := range children {
				if d, _ := c.(map[string]any)["description"].(string); d == "" {
					t.Errorf("%s: %s %s has no description", where, key, name)
				}
			}
		}
		for _, c := range n {
			undocumented(t, where, c)
		}
	case []any:
		for _, c := range n {
			undocumented(t, where, c)
		}
	}
}

func intp(n int) *int { return &n }

var (
	t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	t1 = time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
)

// sampleRecords are records of every model in the shapes the connectors
// give them: WordPress's content (as its connector maps a listing), and
// every unified model filled in full.
func sampleRecords() []integration.Record {
	img := &integration.Image{ExternalID: "31"}
	return []integration.Record{
		{ExternalID: "12", Model: "post", Title: "Hello", BodyHTML: "<p>Hi</p>", Excerpt: "", Slug: "hello", Status: "publish",
			URL: "https://blog.example/hello", CreatedAt: t0, ModifiedAt: t1, Author: &integration.Person{ExternalID: "1", Name: "Ann"},
			Categories: []integration.Term{{ExternalID: "3"}}, Tags: []integration.Term{{ExternalID: "4", Name: "go", Slug: "go"}}, FeaturedImage: img},
		{ExternalID: "13", Model: "post", Status: "trash", Deleted: true},
		{ExternalID: "20", Model: "page", Title: "About", BodyHTML: "x", Excerpt: "e", Slug: "about", Status: "draft", Parent: "19",
			MenuOrder: intp(2), Author: &integration.Person{ExternalID: "1"}, FeaturedImage: img, CreatedAt: t0, ModifiedAt: t1},
		{ExternalID: "21", Model: "page", MenuOrder: intp(0)},
		// A site can give pages and media terms (a plugin registering the
		// taxonomies for them): WordPress then lists them, and so do the
		// records.
		{ExternalID: "22", Model: "page", MenuOrder: intp(1), Categories: []integration.Term{{ExternalID: "3"}}, Tags: []integration.Term{{ExternalID: "4"}}},
		{ExternalID: "32", Model: "media", Categories: []integration.Term{{ExternalID: "3"}}},
		{ExternalID: "31", Model: "media", Title: "Cat", BodyHTML: "<p>a cat</p>", Excerpt: "caption", Slug: "cat", Status: "inherit",
			URL: "https://blog.example/cat.jpg", Author: &integration.Person{ExternalID: "1"}, CreatedAt: t0, ModifiedAt: t1,
			FeaturedImage: &integration.Image{ExternalID: "31", URL: "https://blog.example/cat.jpg", Alt: "A cat"}},
		{ExternalID: "3", Model: "category", Title: "News", Slug: "news", URL: "https://blog.example/c/news", Parent: "2"},
		{ExternalID: "4", Model: "tag", Title: "go", Slug: "go", URL: "https://blog.example/t/go"},
		{ExternalID: "gid://shopify/Product/1", Model: "product", RawRef: "tee", URL: "https://shop.example/products/tee", CreatedAt: t0, ModifiedAt: t1,
			Fields: &integration.Product{Title: "Tee", BodyHTML: "<p>Soft</p>", Vendor: "Acme", ProductType: "Shirts", Status: "active",
				Tags: []string{"cotton"}, Handle: "tee",
				Options: []integration.ProductOption{{ExternalID: "gid://shopify/ProductOption/1", Name: "Size", Values: []string{"S", "M"}}},
				Variants: []integration.Variant{{ExternalID: "gid://shopify/ProductVariant/1", SKU: "TEE-S", Title: "S", Price: "19.99",
					CompareAtPrice: "24.00", InventoryQuantity: intp(0), OptionValues: []integration.OptionValue{{Name: "Size", Value: "S"}}}},
				Images: []integration.ProductImage{{ExternalID: "gid://shopify/ProductImage/1", URL: "https://cdn.example/tee.png", Alt: "Tee"}}}},
		{ExternalID: "gid://shopify/Product/2", Model: "product", Deleted: true, Fields: &integration.Product{}},
		{ExternalID: "ev1", Model: "calendar_event", URL: "https://calendar.example/ev1", CreatedAt: t0, ModifiedAt: t1,
			Fields: &integration.CalendarEvent{Calendar: &integration.Ref{ExternalID: "primary", Name: "Work"}, Title: "Standup",
				Description: "daily", Location: "Room 1", Start: &integration.When{DateTime: "2026-12-01T09:30:00+01:00", TimeZone: "Europe/Paris"},
				End: &integration.When{DateTime: "2026-12-01T09:45:00Z"}, Status: "confirmed",
				Organizer:  &integration.Attendee{Email: "a@example.com", Name: "Ann"},
				Attendees:  []integration.Attendee{{Email: "b@example.com", ResponseStatus: "needs_action"}},
				Recurrence: []string{"RRULE:FREQ=DAILY"}, RecurringEventID: "ev0"}},
		{ExternalID: "ev2", Model: "calendar_event", Fields: &integration.CalendarEvent{Title: "Holiday",
			Start: &integration.When{Date: "2026-12-24"}, End: &integration.When{Date: "2026-12-25"}}},
		{ExternalID: "10001", Model: "task", RawRef: "PRJ-1", URL: "https://jira.example/browse/PRJ-1", CreatedAt: t0, ModifiedAt: t1,
			Fields: &integration.Task{Project: &integration.Ref{ExternalID: "100", Key: "PRJ", Name: "Project"},
				Status: &integration.TaskStatus{ExternalID: "3", Name: "In Progress", Category: "in_progress"}, Title: "Fix it",
				DescriptionText: "it is broken", DescriptionHTML: "<p>it is broken</p>",
				Assignees: []integration.User{{ExternalID: "u1", Name: "Ann", Email: "a@example.com"}}, Labels: []string{"bug"},
				Priority: &integration.Ref{ExternalID: "2", Name: "High"}, Due: &integration.When{Date: "2026-12-10"}}},
		{ExternalID: "C1", Model: "conversation", Fields: &integration.Conversation{Channel: &integration.Ref{ExternalID: "C1", Name: "general"},
			Title: "general", Participants: []integration.User{{ExternalID: "U1"}}, Status: "open"}},
		{ExternalID: "C1/1700000000.000100", Model: "message", CreatedAt: t0,
			Fields: &integration.ChatMessage{Channel: &integration.Ref{ExternalID: "C1"}, Conversation: &integration.Ref{ExternalID: "C1"},
				Participants: []integration.User{{ExternalID: "U1"}}, Direction: "inbound", Author: &integration.User{ExternalID: "U1", Name: "Ann"},
				Text: "hello", Attachments: []integration.Attachment{{ExternalID: "F1", Name: "a.png", ContentType: "image/png", URL: "https://files.example/a.png", Size: 12}},
				ReplyTo: &integration.Ref{ExternalID: "C1/1699999999.000100"}, SentAt: "2026-11-30T09:00:00Z", Status: "delivered"}},
	}
}

// TestStoredRecordsValidate: every record shape the engine stores
// validates against its model's schema, and so does its API form with
// the fields the records API adds.
func TestStoredRecordsValidate(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range sampleRecords() {
		b, _, err := syncer.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		seen[r.Model] = true
		if err := models.Validate(r.Model, b); err != nil {
			t.Errorf("%s %s: %v\n%s", r.Model, r.ExternalID, fields(err), b)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		m["model"], m["changed_at"], m["local_id"] = r.Model, "2026-12-01T10:30:00.123456789Z", "post-1"
		m["integration_id"], m["platform"] = "int1", "wordpress"
		api, _ := json.Marshal(m)
		if err := models.Validate(r.Model, api); err != nil {
			t.Errorf("%s %s as the API shows it: %v\n%s", r.Model, r.ExternalID, fields(err), api)
		}
	}
	for _, name := range models.Names() {
		if !seen[name] {
			t.Errorf("no sample record of %s", name)
		}
	}
}

func fields(err error) map[string]string {
	if e, ok := err.(*integration.Error); ok {
		return e.Fields
	}
	return map[string]string{"error": err.Error()}
}

// TestInvalidRecords: the schemas refuse what the shapes do not allow,
// naming the field.
func TestInvalidRecords(t *testing.T) {
	for _, c := range []struct {
		model, json, field string
	}{
		{"product", `{"external_id":"1","type":"product","model":"product","deleted":false,"status":"ACTIVE"}`, "status"},
		{"product", `{"external_id":"1","type":"product","model":"product","deleted":false,"variants":[{"price":19.99}]}`, "variants[0].price"},
		{"product", `{"external_id":"1","type":"product","model":"product","deleted":false,"variants":[{"price":"19,99"}]}`, "variants[0].price"},
		{"product", `{"external_id":"1","type":"product","deleted":false}`, "model"},
		{"product", `{"external_id":"1","type":"product","model":"product","deleted":false,"colour":"red"}`, "colour"},
		{"task", `{"external_id":"1","type":"task","model":"task","deleted":false,"status":{"name":"x","category":"blocked"}}`, "status.category"},
		{"task", `{"external_id":"1","type":"task","model":"task","deleted":false,"due":{"date":"2026-12-01","date_time":"2026-12-01T00:00:00Z"}}`, "due"},
		{"message", `{"external_id":"1","type":"message","model":"message","deleted":false,"direction":"sideways"}`, "direction"},
		{"post", `{"external_id":"1","type":"page","deleted":false}`, "type"},
		{"post", `{"external_id":"1","type":"post","deleted":false,"menu_order":1}`, "menu_order"},
		{"tag", `{"external_id":"1","type":"tag"}`, "deleted"},
	} {
		err := models.Validate(c.model, []byte(c.json))
		if _, ok := fields(err)[c.field]; !ok || integration.ErrorCode(err) != integration.EINVALID {
			t.Errorf("%s %s: %v, want an error naming %s", c.model, c.json, err, c.field)
		}
	}
	if err := models.Validate("invoice", []byte(`{}`)); integration.ErrorCode(err) != integration.ENOTFOUND {
		t.Errorf("unknown model: %v", err)
	}
}

// apiOnly are the common fields the records API adds to the stored JSON
// (and body_omitted, which it sets when it leaves body_html out); the
// stored shapes never carry them.
var apiOnly = []string{"changed_at", "local_id", "integration_id", "platform", "unreadable", "message", "body_omitted"}

// TestSchemasMatchTheGoShapes guards against drift: every JSON field of
// the Go types records are stored from is in the model's schema, with a
// matching type, and every field of the schema is in the Go type. Adding
// a field to a shape without its schema fails here.
func TestSchemasMatchTheGoShapes(t *testing.T) {
	common := jsonFields(reflect.TypeFor[syncer.RecordJSON]())
	stored := map[string]bool{}
	for _, f := range []string{"external_id", "type", "url", "created_at", "modified_at", "deleted", "raw_ref"} {
		stored[f] = true
	}
	// The content models share RecordJSON: its fields are the union of
	// their schemas' fields.
	union := map[string]any{}
	defs := map[string]any{}
	for _, name := range integration.ContentModels {
		doc := schemaDoc(t, name)
		for k, p := range doc["properties"].(map[string]any) {
			if !slices.Contains(apiOnly, k) && k != "model" {
				union[k] = p
			}
		}
	}
	// Every $defs the content models use is the same shared one.
	for _, name := range integration.ContentModels {
		d, _ := schemaDoc(t, name)["$defs"].(map[string]any)
		for k, d := range d {
			defs[k] = d
		}
	}
	match(t, "content", reflect.TypeFor[syncer.RecordJSON](), map[string]any{"type": "object", "properties": union}, defs)
	for _, name := range models.Names() {
		f := integration.NewFields(name)
		if f == nil {
			continue
		}
		doc := schemaDoc(t, name)
		props := map[string]any{}
		for k, p := range doc["properties"].(map[string]any) {
			if !slices.Contains(apiOnly, k) {
				props[k] = p
			}
		}
		// The common fields a unified record stores, then its own.
		for k := range props {
			if stored[k] || k == "model" {
				if _, ok := common[k]; !ok && k != "model" {
					t.Errorf("%s: common field %s is not stored", name, k)
				}
				delete(props, k)
			}
		}
		defs, _ := doc["$defs"].(map[string]any)
		match(t, name, reflect.TypeOf(f), map[string]any{"type": "object", "properties": props}, defs)
	}
	// And the common fields the schemas name are those RecordJSON stores.
	doc := schemaDoc(t, "post")
	for k := range doc["properties"].(map[string]any) {
		if _, inGo := common[k]; !inGo && !slices.Contains(apiOnly, k) && k != "model" {
			t.Errorf("schema field %s is neither stored nor added by the API", k)
		}
	}
}

func schemaDoc(t *testing.T, name string) map[string]any {
	t.Helper()
	m, ok := models.Get(name)
	if !ok {
		t.Fatalf("no model %s", name)
	}
	var doc map[string]any
	if err := json.Unmarshal(m.Schema, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// jsonFields are a struct's JSON field names and their fields.
func jsonFields(typ reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for f := range typ.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}

// match compares a Go type with a schema node, following $ref into defs
// and oneOf branches.
func match(t *testing.T, path string, typ reflect.Type, node map[string]any, defs map[string]any) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if ref, ok := node["$ref"].(string); ok {
		d, ok := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		if !ok {
			t.Errorf("%s: missing definition %s", path, ref)
			return
		}
		node = d
	}
	switch typ.Kind() {
	case reflect.Struct:
		if typ == reflect.TypeFor[time.Time]() {
			if node["format"] != "date-time" {
				t.Errorf("%s: a time, schema %v", path, node)
			}
			return
		}
		props := map[string]any{}
		if p, ok := node["properties"].(map[string]any); ok {
			for k, v := range p {
				props[k] = v
			}
		}
		if branches, ok := node["oneOf"].([]any); ok {
			for _, b := range branches {
				for k, v := range b.(map[string]any)["properties"].(map[string]any) {
					props[k] = v
				}
			}
		}
		fs := jsonFields(typ)
		var names []string
		for k := range fs {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			p, ok := props[k].(map[string]any)
			if !ok {
				t.Errorf("%s.%s: field of %s missing from the schema", path, k, typ)
				continue
			}
			match(t, path+"."+k, fs[k].Type, p, defs)
		}
		for k := range props {
			if _, ok := fs[k]; !ok {
				t.Errorf("%s.%s: in the schema, not in %s", path, k, typ)
			}
		}
	case reflect.Slice:
		items, ok := node["items"].(map[string]any)
		if node["type"] != "array" || !ok {
			t.Errorf("%s: a slice, schema %v", path, node)
			return
		}
		match(t, path+"[]", typ.Elem(), items, defs)
	case reflect.String:
		if node["type"] != "string" && !allStrings(node["enum"]) && node["const"] == nil {
			t.Errorf("%s: a string, schema %v", path, node)
		}
	case reflect.Int, reflect.Int64:
		if node["type"] != "integer" {
			t.Errorf("%s: an integer, schema %v", path, node)
		}
	case reflect.Bool:
		if node["type"] != "boolean" {
			t.Errorf("%s: a boolean, schema %v", path, node)
		}
	case reflect.Interface:
		// RecordJSON.Fields is written beside the common fields (json:"-").
	default:
		t.Errorf("%s: %s has no schema mapping in this test", path, typ)
	}
}

func allStrings(v any) bool {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return false
	}
	for _, x := range list {
		if _, ok := x.(string); !ok {
			return false
		}
	}
	return true
}
