package wordpress

import "github.com/joinery/joinery/pkg/connector"

// RecordFormat is the shape of a model's records. Format 2: titles and
// term names in plain text, categories and pages with their parent, pages
// with their menu order, posts always with their excerpt. Categories and
// tags are read whole on every run, so they need no new format to be
// rewritten.
func (c *Connector) RecordFormat(model string) int {
	switch model {
	case "post", "page", "media":
		return 2
	}
	return 1
}

var _ connector.Formatted = (*Connector)(nil)
