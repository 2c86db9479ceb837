package fakeplatforms

import "fmt"

func (r *shopifyRoot) mutate(name string, args map[string]any) (any, error) {
	return nil, fmt.Errorf("mutation %s is not served yet", name)
}
