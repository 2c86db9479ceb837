// Package models describes Joinery's unified models: for each, its name,
// category and JSON Schema (draft 2020-12), as GET /v1/models serves them,
// and the validation of records and of pushes against those schemas.
//
// The schemas live in schemas/*.json, one file per model with only its own
// fields, and common.json with the fields every record carries and the
// definitions the models share; each served schema is both merged into one
// self-contained document.
package models

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/joinery/joinery/pkg/integration"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed schemas/*.json
var files embed.FS

// Categories of models, the kind of platform that brings them.
const (
	CategoryContent   = "content"
	CategoryCommerce  = "commerce"
	CategoryCalendar  = "calendar"
	CategoryTasks     = "tasks"
	CategoryMessaging = "messaging"
)

// Model is one unified model.
type Model struct {
	Name     string
	Category string
	// Description says what the model's records are.
	Description string
	// Schema is the model's record as stored and as the records API shows
	// it: a self-contained JSON Schema (draft 2020-12).
	Schema json.RawMessage
	// PushSchema is the data a push of the model may carry, nil for the
	// content models (their pushes have a shape of their own: terms by
	// name, the featured image by URL).
	PushSchema json.RawMessage
}

// Content reports whether the model uses the content fields of a record
// (post, page, category, tag, media) rather than fields of its own.
func (m Model) Content() bool { return m.Category == CategoryContent }

// list is every model, in the order GET /v1/models lists them.
var list = []struct{ name, category string }{
	{"post", CategoryContent},
	{"page", CategoryContent},
	{"category", CategoryContent},
	{"tag", CategoryContent},
	{"media", CategoryContent},
	{integration.ModelProduct, CategoryCommerce},
	{integration.ModelCalendarEvent, CategoryCalendar},
	{integration.ModelTask, CategoryTasks},
	{integration.ModelConversation, CategoryMessaging},
	{integration.ModelMessage, CategoryMessaging},
}

// SchemaDraft is the JSON Schema dialect of every schema.
const SchemaDraft = "https://json-schema.org/draft/2020-12/schema"

// baseRequired are the common fields every stored record has.
var baseRequired = []string{"external_id", "type", "deleted"}

type compiled struct {
	model  Model
	record *jsonschema.Schema
	push   *jsonschema.Schema
	// readOnly are the fields a push may not set.
	readOnly map[string]bool
}

type registry struct {
	byName map[string]*compiled
	order  []string
}

// load builds and compiles every schema once. The schemas are part of the
// build: one that does not load is a bug the tests catch, so it panics.
var load = sync.OnceValue(func() *registry {
	r, err := build()
	if err != nil {
		panic(fmt.Sprintf("models: %v", err))
	}
	return r
})

type schemaFile struct {
	Description string                     `json:"description"`
	Properties  map[string]json.RawMessage `json:"properties"`
	Required    []string                   `json:"required"`
	Defs        map[string]json.RawMessage `json:"$defs"`
	// order is the order of Properties in the file.
	order []string
}

func readFile(name string) (schemaFile, error) {
	var f schemaFile
	b, err := files.ReadFile("schemas/" + name + ".json")
	if err != nil {
		return f, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("schemas/%s.json: %w", name, err)
	}
	var props struct {
		Properties json.RawMessage `json:"properties"`
	}
	_ = json.Unmarshal(b, &props)
	f.order = keyOrder(props.Properties)
	return f, nil
}

// keyOrder is the order of an object's keys as written.
func keyOrder(obj json.RawMessage) []string {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		keys = append(keys, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return keys
}

func build() (*registry, error) {
	common, err := readFile("common")
	if err != nil {
		return nil, err
	}
	reg := &registry{byName: map[string]*compiled{}}
	for _, e := range list {
		own, err := readFile(e.name)
		if err != nil {
			return nil, err
		}
		c, err := compile(e.name, e.category, common, own)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", e.name, err)
		}
		reg.byName[e.name] = c
		reg.order = append(reg.order, e.name)
	}
	return reg, nil
}

// ordered is a JSON object whose keys are written in a set order, so the
// served schemas read top-down (the common fields first).
type ordered struct {
	keys []string
	vals map[string]any
}

func (o *ordered) set(k string, v any) {
	if o.vals == nil {
		o.vals = map[string]any{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *ordered) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		vb, err := json.Marshal(o.vals[k])
		if err != nil {
			return nil, err
		}
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func compile(name, category string, common, own schemaFile) (*compiled, error) {
	if own.Description == "" {
		return nil, fmt.Errorf("no description")
	}
	content := category == CategoryContent
	props := &ordered{}
	readOnly := map[string]bool{}
	for _, k := range common.order {
		var p map[string]any
		if err := json.Unmarshal(common.Properties[k], &p); err != nil {
			return nil, fmt.Errorf("common field %s: %w", k, err)
		}
		if k == "type" || k == "model" {
			p["const"] = name
			delete(p, "type")
		}
		p["readOnly"] = true
		props.set(k, p)
		readOnly[k] = true
	}
	pushProps := &ordered{}
	for _, k := range own.order {
		if _, ok := common.Properties[k]; ok {
			return nil, fmt.Errorf("field %s is a common field", k)
		}
		var p map[string]any
		if err := json.Unmarshal(own.Properties[k], &p); err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		props.set(k, p)
		if p["readOnly"] == true {
			readOnly[k] = true
			continue
		}
		pushProps.set(k, p)
	}
	required := slices.Clone(baseRequired)
	if !content {
		required = append(required, "model")
	}
	required = append(required, own.Required...)
	defs := map[string]json.RawMessage{}
	maps.Copy(defs, common.Defs)
	for k, v := range own.Defs {
		if _, ok := defs[k]; ok {
			return nil, fmt.Errorf("definition %s is also a common one", k)
		}
		defs[k] = v
	}
	used, err := usedDefs(own.Properties, defs)
	if err != nil {
		return nil, err
	}
	doc := &ordered{}
	doc.set("$schema", SchemaDraft)
	doc.set("$id", schemaID(name))
	doc.set("title", name)
	doc.set("description", own.Description)
	doc.set("type", "object")
	doc.set("properties", props)
	doc.set("required", required)
	doc.set("additionalProperties", false)
	if len(used) > 0 {
		doc.set("$defs", used)
	}
	schema, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	c := &compiled{model: Model{Name: name, Category: category, Description: own.Description, Schema: schema}, readOnly: readOnly}
	if c.record, err = compileDoc(schemaID(name), schema); err != nil {
		return nil, err
	}
	if content {
		return c, nil
	}
	push := &ordered{}
	push.set("$schema", SchemaDraft)
	push.set("$id", schemaID(name+".push"))
	push.set("title", name+" (push)")
	push.set("description", "The data of a push of a "+name+": every field optional; a field left out keeps its value on the platform, a field sent as null clears it. The read-only fields (external_id, model, url …) are set by the platform and refused.")
	push.set("type", "object")
	push.set("properties", pushProps)
	push.set("additionalProperties", false)
	if len(used) > 0 {
		push.set("$defs", used)
	}
	if c.model.PushSchema, err = json.Marshal(push); err != nil {
		return nil, err
	}
	if c.push, err = compileDoc(schemaID(name+".push"), c.model.PushSchema); err != nil {
		return nil, err
	}
	return c, nil
}

// schemaID is a schema's $id: a name, not a place to fetch it from (GET
// /v1/models/{model} serves it).
func schemaID(name string) string { return "urn:joinery:model:" + name }

func compileDoc(id string, schema []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(id, doc); err != nil {
		return nil, err
	}
	return c.Compile(id)
}

// usedDefs are the definitions the properties refer to, directly or
// through other definitions; a reference to a missing one is an error.
func usedDefs(props map[string]json.RawMessage, defs map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	used := map[string]json.RawMessage{}
	var visit func(raw json.RawMessage) error
	visit = func(raw json.RawMessage) error {
		for _, ref := range refs(raw) {
			name, ok := strings.CutPrefix(ref, "#/$defs/")
			if !ok {
				return fmt.Errorf("reference %s: only #/$defs/… is allowed", ref)
			}
			if _, done := used[name]; done {
				continue
			}
			d, ok := defs[name]
			if !ok {
				return fmt.Errorf("reference to a missing definition %s", name)
			}
			used[name] = d
			if err := visit(d); err != nil {
				return err
			}
		}
		return nil
	}
	for _, k := range sortedKeys(props) {
		if err := visit(props[k]); err != nil {
			return nil, err
		}
	}
	return used, nil
}

// refs are the $ref values anywhere in a schema fragment.
func refs(raw json.RawMessage) []string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				out = append(out, r)
			}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				walk(v[k])
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// All is every model, in a stable order: the content models first.
func All() []Model {
	r := load()
	out := make([]Model, len(r.order))
	for i, name := range r.order {
		out[i] = r.byName[name].model
	}
	return out
}

// Names are the models' names, in the order of All.
func Names() []string { return slices.Clone(load().order) }

// Get is the model named name.
func Get(name string) (Model, bool) {
	c, ok := load().byName[name]
	if !ok {
		return Model{}, false
	}
	return c.model, true
}

// Unified reports whether model has fields of its own (product, task …)
// rather than the content fields: its pushes are checked against its
// push schema.
func Unified(model string) bool {
	c, ok := load().byName[model]
	return ok && !c.model.Content()
}
