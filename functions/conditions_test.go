package functions_test

import (
	"fmt"
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// withConditions gives v the Conditions of the template at path.
func withConditions(t *testing.T, path string, v resolver) resolver {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	v.conditions = map[string]*yaml.Node{}
	if c := mapGet(doc.Content[0], "Conditions"); c != nil {
		for i := 0; i+1 < len(c.Content); i += 2 {
			v.conditions[c.Content[i].Value] = c.Content[i+1]
		}
	}
	return v
}

// condition evaluates a named condition: !Equals, !Not, !And, !Or and
// !Condition, short or long form.
func (v resolver) condition(name string) (bool, error) {
	n, ok := v.conditions[name]
	if !ok {
		return false, fmt.Errorf("unknown condition %s", name)
	}
	return v.eval(n)
}

func (v resolver) eval(n *yaml.Node) (bool, error) {
	tag, args := n.Tag, n
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
		k := n.Content[0].Value
		if k == "Condition" {
			return v.condition(n.Content[1].Value)
		}
		tag, args = "!"+k[len("Fn::"):], n.Content[1]
	}
	switch tag {
	case "!Condition":
		return v.condition(n.Value)
	case "!Equals":
		a, err := v.value(args.Content[0])
		if err != nil {
			return false, err
		}
		b, err := v.value(args.Content[1])
		return a == b, err
	case "!Not":
		x, err := v.eval(args.Content[0])
		return !x, err
	case "!And", "!Or":
		all, any := true, false
		for _, c := range args.Content {
			x, err := v.eval(c)
			if err != nil {
				return false, err
			}
			all, any = all && x, any || x
		}
		if tag == "!And" {
			return all, nil
		}
		return any, nil
	}
	return false, fmt.Errorf("line %d: cannot evaluate condition %s", n.Line, tag)
}
