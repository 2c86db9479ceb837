// Package appcreds reads the deployment's app credentials: one JSON
// document, {"<platform>": {"<field>": "<value>", …}, …}, kept in a
// Secrets Manager secret (JOINERY_APPS_SECRET) or, locally, a file
// (JOINERY_APPS_FILE). The document is checked against the catalog when
// it is read and kept for a while, so a rotated value is picked up
// without a deploy.
package appcreds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// Source is where the document is. found is false when there is none,
// which is a deployment without app credentials, not an error.
type Source interface {
	Read(ctx context.Context) (doc []byte, found bool, err error)
}

// DefaultTTL is how long a read document is used before it is read again.
const DefaultTTL = 5 * time.Minute

// Apps implements integration.Apps over a Source.
type Apps struct {
	src     Source
	catalog integration.Catalog
	ttl     time.Duration
	now     func() time.Time

	mu       sync.Mutex
	loadedAt time.Time
	loaded   bool
	doc      map[string]map[string]string
	err      error // the document's own fault, kept like the document
}

var _ integration.Apps = (*Apps)(nil)

// New returns the app credentials of src, read again after ttl (0:
// DefaultTTL) on the clock now (nil: time.Now).
func New(src Source, c integration.Catalog, ttl time.Duration, now func() time.Time) *Apps {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Apps{src: src, catalog: c, ttl: ttl, now: now}
}

// App returns a platform's app credentials, or EUNPROCESSABLE when the
// deployment has none for it. A document that does not fit the catalog
// is an internal error naming the platform and the field.
func (a *Apps) App(ctx context.Context, platform string) (map[string]string, error) {
	doc, err := a.load(ctx)
	if err != nil {
		return nil, err
	}
	v, ok := doc[platform]
	if !ok {
		p, known := a.catalog.Platform(platform)
		if !known {
			p = integration.Platform{Name: platform}
		}
		return nil, integration.NotConfigured(p)
	}
	return maps.Clone(v), nil
}

// Check reads the document now and reports what is wrong with it, for a
// process that would rather not start with a broken one.
func (a *Apps) Check(ctx context.Context) error {
	_, err := a.load(ctx)
	return err
}

func (a *Apps) load(ctx context.Context) (map[string]map[string]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.loaded && a.now().Sub(a.loadedAt) < a.ttl {
		return a.doc, a.err
	}
	raw, found, err := a.src.Read(ctx)
	if err != nil {
		// Not kept: the next call tries again.
		return nil, fmt.Errorf("read app credentials: %w", err)
	}
	a.doc, a.err = map[string]map[string]string{}, nil
	if found {
		a.doc, a.err = Decode(raw, a.catalog)
	}
	a.loaded, a.loadedAt = true, a.now()
	return a.doc, a.err
}

// Decode reads a document and checks it against the catalog: known
// platforms that take app credentials, their declared fields only, every
// required one present, all strings. Errors name the platform and the
// field, never a value.
func Decode(raw []byte, c integration.Catalog) (map[string]map[string]string, error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&top); err != nil || top == nil || dec.More() {
		return nil, errors.New("app credentials: must be one JSON object of platforms")
	}
	var errs []error
	out := make(map[string]map[string]string, len(top))
	for _, name := range slices.Sorted(maps.Keys(top)) {
		p, ok := c.Platform(name)
		if !ok {
			errs = append(errs, fmt.Errorf("app credentials: %q is not a platform (expected one of %s)", name, strings.Join(c.Names(), ", ")))
			continue
		}
		if len(p.AppFields) == 0 {
			errs = append(errs, fmt.Errorf("app credentials: %s takes none", name))
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal(top[name], &fields); err != nil || fields == nil {
			errs = append(errs, fmt.Errorf("app credentials: %s: must be an object of fields", name))
			continue
		}
		declared := map[string]bool{}
		var names []string
		for _, f := range p.AppFields {
			declared[f.Name] = true
			names = append(names, f.Name)
		}
		values := map[string]string{}
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			s, isString := fields[k].(string)
			switch {
			case !declared[k]:
				errs = append(errs, fmt.Errorf("app credentials: %s.%s: unknown field (expected %s)", name, k, strings.Join(names, ", ")))
			case !isString:
				errs = append(errs, fmt.Errorf("app credentials: %s.%s: must be a string", name, k))
			default:
				values[k] = s
			}
		}
		for _, f := range p.AppFields {
			if _, present := fields[f.Name]; f.Required && (!present || strings.TrimSpace(values[f.Name]) == "") {
				if _, isString := fields[f.Name].(string); !present || isString {
					errs = append(errs, fmt.Errorf("app credentials: %s.%s: required", name, f.Name))
				}
			}
		}
		out[name] = values
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// File is a document in a file (local development). A missing file is
// no app credentials.
type File struct{ Path string }

// Read reads the file.
func (f File) Read(context.Context) ([]byte, bool, error) {
	if f.Path == "" {
		return nil, false, nil
	}
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}
