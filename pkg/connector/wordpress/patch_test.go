package wordpress

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
)

// writeWP answers the write routes as WordPress does, and keeps each
// request as "METHOD path?query body".
type writeWP struct {
	mu       sync.Mutex
	requests []string
}

func (f *writeWP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	route := strings.TrimPrefix(r.URL.Path, "/wp-json/wp/v2/")
	line := r.Method + " " + route
	if q := r.URL.Query(); q.Get("force") != "" {
		line += "?force=" + q.Get("force")
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		line += " " + string(b)
	} else if len(b) > 0 {
		line += fmt.Sprintf(" <%d bytes of %s>", len(b), r.Header.Get("Content-Type"))
	}
	f.mu.Lock()
	f.requests = append(f.requests, line)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && route == "media":
		fmt.Fprint(w, `{"id": 90}`)
	case strings.HasPrefix(route, "media/"):
		fmt.Fprint(w, `{"id": 90}`)
	case r.Method == http.MethodDelete:
		fmt.Fprint(w, `{"deleted": true}`)
	case route == "posts" || strings.HasPrefix(route, "posts/"):
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		media := 77
		if v, ok := body["featured_media"].(float64); ok {
			media = int(v)
		}
		id := 12
		if route == "posts" {
			id = 13
		}
		fmt.Fprintf(w, `{"id": %d, "slug": "kept", "status": "publish", "title": {"raw": "T"}, "featured_media": %d, "modified_gmt": "2026-03-04T05:06:07"}`, id, media)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"code":"rest_no_route"}`)
	}
}

func (f *writeWP) reqs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{}, f.requests...)
}

func TestPatchSendsOnlyTheFieldsSet(t *testing.T) {
	s := connector.Str
	none := []integration.Term{}
	for _, c := range []struct {
		name  string
		patch connector.Patch
		want  []string
	}{
		{"title only", connector.Patch{Title: s("New")}, []string{`POST posts/12 {"title":"New"}`}},
		{"cleared", connector.Patch{Excerpt: s(""), Categories: &none, Tags: &none, FeaturedImage: &connector.ImageChange{Remove: true}},
			[]string{`POST posts/12 {"categories":[],"excerpt":"","featured_media":0,"tags":[]}`}},
		{"terms and status", connector.Patch{Status: s("draft"), Categories: &[]integration.Term{{ExternalID: "4"}}},
			[]string{`POST posts/12 {"categories":[4],"status":"draft"}`}},
		{"alt of the current image", connector.Patch{FeaturedImage: &connector.ImageChange{Alt: s("A cover")}},
			[]string{`POST posts/12 {}`, `POST media/77 {"alt_text":"A cover"}`}},
		{"a new image", connector.Patch{FeaturedImage: &connector.ImageChange{File: &connector.ImageFile{Name: "c.png", ContentType: "image/png", Data: []byte("png")}, Alt: s("Alt")}},
			[]string{`POST media <3 bytes of image/png>`, `POST media/90 {"alt_text":"Alt"}`, `POST posts/12 {"featured_media":90}`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			wp := &writeWP{}
			r, err := New().Patch(context.Background(), fakeConn(t, wp), "post", "12", c.patch)
			if err != nil {
				t.Fatal(err)
			}
			if got := wp.reqs(); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("requests\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if r.ExternalID != "12" || r.Slug != "kept" {
				t.Fatalf("record %+v", r)
			}
		})
	}
}

func TestUpdateStillWritesTheWholeRecord(t *testing.T) {
	wp := &writeWP{}
	_, err := New().Update(context.Background(), fakeConn(t, wp), integration.Record{Model: "post", ExternalID: "12", Title: "T", Status: "publish"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(wp.reqs(), "\n"), `POST posts/12 {"categories":[],"content":"","excerpt":"","status":"publish","tags":[],"title":"T"}`; got != want {
		t.Fatalf("request %s, want %s", got, want)
	}
}

func TestFetchImageChecksBeforeAnythingIsWritten(t *testing.T) {
	img := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing.png":
			http.NotFound(w, r)
		case "/page.png":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>")
		case "/huge.png":
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("Content-Length", strconv.Itoa(MaxImageBytes+1))
			_, _ = w.Write(make([]byte, MaxImageBytes+1))
		case "/streamed.png":
			w.Header().Set("Content-Type", "image/png")
			w.(http.Flusher).Flush() // no Content-Length: the size is only known by reading
			_, _ = w.Write(make([]byte, MaxImageBytes+1))
		default:
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write([]byte("png"))
		}
	}))
	defer img.Close()
	conn := connector.Connection{HTTP: img.Client()}
	for path, want := range map[string]string{
		"/missing.png":  "HTTP 404",
		"/page.png":     "not an image",
		"/huge.png":     "larger than 10 MiB",
		"/streamed.png": "larger than 10 MiB",
	} {
		_, err := New().FetchImage(context.Background(), conn, img.URL+path)
		ce, ok := err.(*connector.Error)
		if !ok || ce.Kind != connector.ErrInvalid || !strings.Contains(ce.Message, want) {
			t.Errorf("%s: %v, want an invalid-data error saying %q", path, err, want)
		}
	}
	f, err := New().FetchImage(context.Background(), conn, img.URL+"/pictures/cover")
	if err != nil || string(f.Data) != "png" || f.Name != "cover.png" || f.ContentType != "image/png" {
		t.Fatalf("fetched %+v %v", f, err)
	}
}
