package embedded

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/joinery/joinery/pkg/integration"
)

// CursorKeyFile keeps the cursor keys in a 0600 file, created with a fresh
// key on first use: the local runner's stand-in for the stack's secret.
type CursorKeyFile struct {
	path string
	now  func() time.Time
	mu   sync.Mutex
}

var _ integration.CursorKeys = (*CursorKeyFile)(nil)

// cursorKeyDoc is the file: the keys as base64, and when the current one
// replaced the previous.
type cursorKeyDoc struct {
	Current   string     `json:"current"`
	Previous  string     `json:"previous,omitempty"`
	RotatedAt *time.Time `json:"rotated_at,omitempty"`
}

// NewCursorKeyFile returns the key file at path; now (nil: time.Now)
// stamps rotations.
func NewCursorKeyFile(path string, now func() time.Time) *CursorKeyFile {
	if now == nil {
		now = time.Now
	}
	return &CursorKeyFile{path: path, now: now}
}

// CursorKeys reads the file, creating it with a new key if there is none.
func (f *CursorKeyFile) CursorKeys(ctx context.Context) (integration.CursorKeySet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	doc, err := f.read()
	if errors.Is(err, os.ErrNotExist) {
		doc, err = f.create()
	}
	if err != nil {
		return integration.CursorKeySet{}, err
	}
	return doc.set(f.path)
}

// Rotate makes a new key current; the current one becomes the previous.
func (f *CursorKeyFile) Rotate(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	doc, err := f.read()
	if errors.Is(err, os.ErrNotExist) {
		doc, err = f.create()
	}
	if err != nil {
		return err
	}
	key, err := newCursorKey()
	if err != nil {
		return err
	}
	at := f.now().UTC()
	return f.write(cursorKeyDoc{Current: key, Previous: doc.Current, RotatedAt: &at}, false)
}

func (f *CursorKeyFile) read() (cursorKeyDoc, error) {
	b, err := os.ReadFile(f.path)
	if err != nil {
		return cursorKeyDoc{}, err
	}
	var doc cursorKeyDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return cursorKeyDoc{}, fmt.Errorf("cursor key file %s is not valid JSON: %w", f.path, err)
	}
	return doc, nil
}

// create writes a first key. Another process creating it at the same time
// wins; its key is read back.
func (f *CursorKeyFile) create() (cursorKeyDoc, error) {
	key, err := newCursorKey()
	if err != nil {
		return cursorKeyDoc{}, err
	}
	doc := cursorKeyDoc{Current: key}
	if err := f.write(doc, true); errors.Is(err, os.ErrExist) {
		return f.read()
	} else if err != nil {
		return cursorKeyDoc{}, err
	}
	return doc, nil
}

// write replaces the file whole (a temporary file renamed over it), or
// creates it when excl and there is none.
func (f *CursorKeyFile) write(doc cursorKeyDoc, excl bool) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return fmt.Errorf("create cursor key dir: %w", err)
	}
	if excl {
		fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := fh.Write(b); err != nil {
			_ = fh.Close()
			return fmt.Errorf("write cursor key file: %w", err)
		}
		return fh.Close()
	}
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write cursor key file: %w", err)
	}
	return os.Rename(tmp, f.path)
}

func (d cursorKeyDoc) set(path string) (integration.CursorKeySet, error) {
	var s integration.CursorKeySet
	var err error
	if s.Current, err = base64.StdEncoding.DecodeString(d.Current); err != nil || len(s.Current) < integration.MinCursorKeyBytes {
		return s, fmt.Errorf("cursor key file %s: current must be a base64 key of at least %d bytes", path, integration.MinCursorKeyBytes)
	}
	if d.Previous != "" && d.RotatedAt != nil {
		if s.Previous, err = base64.StdEncoding.DecodeString(d.Previous); err != nil {
			return s, fmt.Errorf("cursor key file %s: previous is not base64", path)
		}
		s.RotatedAt = *d.RotatedAt
	}
	return s, nil
}

func newCursorKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new cursor key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
