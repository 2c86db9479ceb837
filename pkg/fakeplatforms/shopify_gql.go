package fakeplatforms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator"
)

// A small GraphQL executor over the parsed and validated query: the
// library checks the query against the schema (unknown fields, wrong
// arguments, bad variables), this file runs it against Go values and
// prices it as Shopify does.

var (
	shopifySchemaOnce sync.Once
	shopifySchema     *ast.Schema
)

func loadShopifySchema() *ast.Schema {
	shopifySchemaOnce.Do(func() {
		shopifySchema = gqlparser.MustLoadSchema(&ast.Source{Name: "shopify.graphql", Input: shopifySDL})
	})
	return shopifySchema
}

// gqlObject is a value of an object type: its type name and its fields.
type gqlObject interface {
	gqlType() string
	gqlField(name string, args map[string]any) (any, error)
}

// omap is a JSON object keeping the selection's field order, as GraphQL
// answers do.
type omap struct {
	keys []string
	vals map[string]any
}

func (m *omap) set(k string, v any) {
	if m.vals == nil {
		m.vals = map[string]any{}
	}
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
}

func (m *omap) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range m.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kj, _ := json.Marshal(k)
		b.Write(kj)
		b.WriteByte(':')
		vj, err := json.Marshal(m.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(vj)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// gqlRequest is one parsed, validated operation ready to price and run.
type gqlRequest struct {
	schema *ast.Schema
	doc    *ast.QueryDocument
	op     *ast.OperationDefinition
	vars   map[string]any
	errs   []map[string]any // field errors met while running
}

// gqlMessage is an error whose text is the message Shopify answers with,
// capitals and full stop included.
type gqlMessage string

func (m gqlMessage) Error() string { return string(m) }

// gqlErr is a top-level error as Shopify writes them.
func gqlErr(msg string, ext map[string]any) map[string]any {
	e := map[string]any{"message": msg}
	if ext != nil {
		e["extensions"] = ext
	}
	return e
}

var (
	undefinedFieldRE = regexp.MustCompile(`^Cannot query field "([^"]+)" on type "([^"]+)"`)
	unknownArgRE     = regexp.MustCompile(`^Unknown argument "([^"]+)" on field "(?:[^".]+\.)?([^"]+)"`)
)

// gqlErrList writes validation errors in Shopify's words where they
// differ from the library's (unknown fields and arguments).
func gqlErrList(list gqlerror.List) []map[string]any {
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		m := map[string]any{"message": e.Message}
		if len(e.Locations) > 0 {
			m["locations"] = e.Locations
		}
		if len(e.Path) > 0 {
			m["path"] = e.Path
		}
		ext := map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}
		if g := undefinedFieldRE.FindStringSubmatch(e.Message); g != nil {
			m["message"] = fmt.Sprintf("Field '%s' doesn't exist on type '%s'", g[1], g[2])
			ext = map[string]any{"code": "undefinedField", "typeName": g[2], "fieldName": g[1]}
		} else if g := unknownArgRE.FindStringSubmatch(e.Message); g != nil {
			m["message"] = fmt.Sprintf("Field '%s' doesn't accept argument '%s'", g[2], g[1])
			ext = map[string]any{"code": "argumentNotAccepted", "name": g[2], "typeName": "Field", "argumentName": g[1]}
		} else if e.Rule == "" {
			ext["code"] = "syntaxError"
		}
		m["extensions"] = ext
		out = append(out, m)
	}
	return out
}

// parseGQL parses and validates a query and coerces its variables; a
// failure comes back as the top-level errors Shopify answers with.
func parseGQL(query, opName string, vars map[string]any) (*gqlRequest, []map[string]any) {
	schema := loadShopifySchema()
	if strings.TrimSpace(query) == "" {
		return nil, []map[string]any{gqlErr("No query string was present", nil)}
	}
	doc, errs := gqlparser.LoadQueryWithRules(schema, query, nil)
	if len(errs) > 0 {
		return nil, gqlErrList(errs)
	}
	var op *ast.OperationDefinition
	switch {
	case opName != "":
		op = doc.Operations.ForName(opName)
		if op == nil {
			return nil, []map[string]any{gqlErr(fmt.Sprintf("No operation named %q", opName), nil)}
		}
	case len(doc.Operations) == 1:
		op = doc.Operations[0]
	default:
		return nil, []map[string]any{gqlErr("An operation name is required", nil)}
	}
	if op.Operation == ast.Subscription {
		return nil, []map[string]any{gqlErr("Subscriptions are not supported", nil)}
	}
	if vars == nil {
		vars = map[string]any{}
	}
	cv, err := validator.VariableValues(schema, op, vars)
	if err != nil {
		msg := err.Error()
		if ge, ok := err.(*gqlerror.Error); ok {
			msg = ge.Message
			if len(ge.Path) > 0 {
				msg = ge.Path.String() + " " + msg
			}
		}
		return nil, []map[string]any{gqlErr("Variable "+msg, map[string]any{"code": "INVALID_VARIABLE"})}
	}
	return &gqlRequest{schema: schema, doc: doc, op: op, vars: cv}, nil
}

// fields flattens a selection set for one concrete type: fragments whose
// type condition matches, @skip and @include applied, same response keys
// merged.
func (q *gqlRequest) fields(sel ast.SelectionSet, typeName string) []*ast.Field {
	var out []*ast.Field
	index := map[string]int{}
	var walk func(ast.SelectionSet)
	walk = func(sel ast.SelectionSet) {
		for _, s := range sel {
			switch s := s.(type) {
			case *ast.Field:
				if !q.included(s.Directives) {
					continue
				}
				key := s.Alias
				if key == "" {
					key = s.Name
				}
				if i, ok := index[key]; ok {
					merged := *out[i]
					merged.SelectionSet = append(append(ast.SelectionSet{}, merged.SelectionSet...), s.SelectionSet...)
					out[i] = &merged
					continue
				}
				index[key] = len(out)
				out = append(out, s)
			case *ast.InlineFragment:
				if q.included(s.Directives) && q.matches(s.TypeCondition, typeName) {
					walk(s.SelectionSet)
				}
			case *ast.FragmentSpread:
				if s.Definition != nil && q.included(s.Directives) && q.matches(s.Definition.TypeCondition, typeName) {
					walk(s.Definition.SelectionSet)
				}
			}
		}
	}
	walk(sel)
	return out
}

func (q *gqlRequest) included(ds ast.DirectiveList) bool {
	if d := ds.ForName("skip"); d != nil {
		if v, _ := d.ArgumentMap(q.vars)["if"].(bool); v {
			return false
		}
	}
	if d := ds.ForName("include"); d != nil {
		if v, _ := d.ArgumentMap(q.vars)["if"].(bool); !v {
			return false
		}
	}
	return true
}

func (q *gqlRequest) matches(cond, typeName string) bool {
	if cond == "" || cond == typeName {
		return true
	}
	def := q.schema.Types[cond]
	if def == nil || (def.Kind != ast.Interface && def.Kind != ast.Union) {
		return false
	}
	for _, p := range q.schema.GetPossibleTypes(def) {
		if p.Name == typeName {
			return true
		}
	}
	return false
}

// --- cost (shopify.dev/docs/api/usage/limits) ---

// maxPageSize is the largest first/last Shopify accepts on a connection.
const maxPageSize = 250

// mutationCost is what every mutation field costs.
const mutationCost = 10

func isConnection(typeName string) bool { return strings.HasSuffix(typeName, "Connection") }

// requestedCost prices the operation before it runs: scalars and enums
// 0, objects 1, a connection 2 plus first (or last) times the cost of one
// of its nodes, a mutation 10; an interface or union costs its most
// expensive possibility. Errors are a connection asked without first or
// last, or with more than 250.
func (q *gqlRequest) requestedCost() (int, []map[string]any) {
	if q.op.Operation == ast.Mutation {
		return mutationCost * len(q.fields(q.op.SelectionSet, "Mutation")), nil
	}
	var errs []map[string]any
	c := q.selCost(q.op.SelectionSet, q.schema.Query, []any{string(q.op.Operation)}, &errs)
	return c, errs
}

func (q *gqlRequest) selCost(sel ast.SelectionSet, def *ast.Definition, path []any, errs *[]map[string]any) int {
	if def.Kind == ast.Interface || def.Kind == ast.Union {
		best := 0
		for _, p := range q.schema.GetPossibleTypes(def) {
			best = max(best, q.selCost(sel, p, path, errs))
		}
		return best
	}
	total := 0
	for _, f := range q.fields(sel, def.Name) {
		if f.Definition == nil {
			continue
		}
		fpath := append(append([]any{}, path...), f.Alias)
		tdef := q.schema.Types[f.Definition.Type.Name()]
		if tdef == nil || tdef.Kind == ast.Scalar || tdef.Kind == ast.Enum {
			continue
		}
		if isConnection(tdef.Name) {
			args := f.ArgumentMap(q.vars)
			n, ok := pageSize(args)
			if !ok {
				*errs = append(*errs, gqlErr("you must provide one of first or last", map[string]any{"code": "BAD_REQUEST", "path": fpath}))
				continue
			}
			if n > maxPageSize || n < 0 {
				*errs = append(*errs, gqlErr(fmt.Sprintf("The first or last argument of %s must be between 0 and %d", f.Name, maxPageSize), map[string]any{"code": "BAD_REQUEST", "path": fpath}))
				continue
			}
			total += 2 + n*q.nodeCost(f.SelectionSet, tdef, fpath, errs)
			continue
		}
		total += 1 + q.selCost(f.SelectionSet, tdef, fpath, errs)
	}
	return total
}

// nodeCost is the cost of one node of a connection, read through edges
// { node } or nodes (the dearer of the two when both are asked).
func (q *gqlRequest) nodeCost(sel ast.SelectionSet, conn *ast.Definition, path []any, errs *[]map[string]any) int {
	best := 0
	for _, f := range q.fields(sel, conn.Name) {
		switch f.Name {
		case "nodes":
			best = max(best, 1+q.selCost(f.SelectionSet, q.schema.Types[f.Definition.Type.Name()], path, errs))
		case "edges":
			edge := q.schema.Types[f.Definition.Type.Name()]
			for _, ef := range q.fields(f.SelectionSet, edge.Name) {
				if ef.Name == "node" {
					best = max(best, 1+q.selCost(ef.SelectionSet, q.schema.Types[ef.Definition.Type.Name()], path, errs))
				}
			}
		}
	}
	return best
}

func pageSize(args map[string]any) (int, bool) {
	if v, ok := args["first"]; ok && v != nil {
		return toInt(v), true
	}
	if v, ok := args["last"]; ok && v != nil {
		return toInt(v), true
	}
	return 0, false
}

// --- execution ---

// run executes the operation on root and returns the data and what it
// actually cost: the same rules, with the objects actually returned.
func (q *gqlRequest) run(root gqlObject) (*omap, int) {
	typeName := "QueryRoot"
	if q.op.Operation == ast.Mutation {
		typeName = "Mutation"
	}
	data := &omap{}
	cost := 0
	for _, f := range q.fields(q.op.SelectionSet, typeName) {
		v, c := q.field(f, root, []any{f.Alias})
		data.set(f.Alias, v)
		if q.op.Operation == ast.Mutation {
			c = mutationCost
		}
		cost += c
	}
	return data, cost
}

func (q *gqlRequest) field(f *ast.Field, obj gqlObject, path []any) (any, int) {
	if f.Name == "__typename" {
		return obj.gqlType(), 0
	}
	if f.Definition == nil {
		return nil, 0
	}
	args := f.ArgumentMap(q.vars)
	if d := f.Directives.ForName("idempotent"); d != nil {
		if args == nil {
			args = map[string]any{}
		}
		args["@idempotent"] = d.ArgumentMap(q.vars)["key"]
	}
	v, err := obj.gqlField(f.Name, args)
	if err != nil {
		e := map[string]any{"message": err.Error(), "path": path,
			"locations": []map[string]int{{"line": f.Position.Line, "column": f.Position.Column}}}
		if x, ok := err.(interface{ extensions() map[string]any }); ok {
			e["extensions"] = x.extensions()
		}
		q.errs = append(q.errs, e)
		return nil, 0
	}
	return q.complete(f, f.Definition.Type, v, path)
}

func (q *gqlRequest) complete(f *ast.Field, t *ast.Type, v any, path []any) (any, int) {
	if v == nil {
		return nil, 0
	}
	if t.Elem != nil {
		switch list := v.(type) {
		case nodeList:
			return q.nodes(f, list, path)
		case []gqlObject:
			out := make([]any, len(list))
			cost := 0
			for i, o := range list {
				var c int
				out[i], c = q.object(f, o, append(append([]any{}, path...), i))
				cost = max(cost, c) // a plain list is priced as one object
			}
			return out, cost
		default:
			return v, 0
		}
	}
	if o, ok := v.(gqlObject); ok {
		return q.object(f, o, path)
	}
	return v, 0
}

func (q *gqlRequest) object(f *ast.Field, o gqlObject, path []any) (any, int) {
	if o == nil {
		return nil, 0
	}
	typeName := o.gqlType()
	out := &omap{}
	var sum, nodes, edges int
	for _, sf := range q.fields(f.SelectionSet, typeName) {
		v, c := q.field(sf, o, append(append([]any{}, path...), sf.Alias))
		out.set(sf.Alias, v)
		if isConnection(typeName) {
			// Connection: its nodes counted once whether read through
			// nodes or edges; pageInfo is free.
			switch sf.Name {
			case "nodes":
				nodes = max(nodes, c)
			case "edges":
				edges = max(edges, c)
			}
			continue
		}
		sum += c
	}
	switch {
	case isConnection(typeName):
		return out, 2 + max(nodes, edges)
	case strings.HasSuffix(typeName, "Edge") || typeName == "PageInfo":
		return out, sum
	}
	return out, 1 + sum
}

// nodeList is a connection's nodes or edges: they cost the sum of their
// items, where a plain list of objects is priced as one object.
type nodeList []gqlObject

func (q *gqlRequest) nodes(f *ast.Field, list nodeList, path []any) (any, int) {
	out := make([]any, len(list))
	cost := 0
	for i, o := range list {
		var c int
		out[i], c = q.object(f, o, append(append([]any{}, path...), i))
		cost += c
	}
	return out, cost
}

func toInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int32:
		return int(n)
	case int64:
		return int(n)
	case float64:
		return int(n)
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	}
	return 0
}
