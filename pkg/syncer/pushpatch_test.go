package syncer_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/connector/wordpress"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// WordPress takes pushes: a method missing here would make every push to
// it "not available".
var _ syncer.Pusher = (*wordpress.Connector)(nil)

// Patch writes only the fields set, as WordPress does; externalID ""
// creates an item.
func (p *fakePlatform) Patch(_ context.Context, _ connector.Connection, model, ext string, ch connector.Patch) (integration.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var id int
	if ext == "" {
		p.creates++
		id = 1000 + p.creates
	} else {
		if p.rejectUpdates {
			return integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Status: 400, Message: "WordPress rejected the post."}
		}
		id, _ = strconv.Atoi(ext)
		if _, ok := p.posts[id]; !ok {
			return integration.Record{}, &connector.Error{Kind: connector.ErrNotFound, Message: "no such post"}
		}
	}
	p.posts[id] = p.nowLocked()
	if ch.Slug != nil {
		for slug, sid := range p.slugs {
			if sid == id {
				delete(p.slugs, slug)
			}
		}
		p.slugs[*ch.Slug] = id
	}
	if ch.Title != nil {
		p.titles[id] = *ch.Title
	}
	r := p.record(id)
	r.Model = model
	return r, nil
}

// FetchImage fails for a URL naming "missing", as an image host answering
// 404 does.
func (p *fakePlatform) FetchImage(_ context.Context, _ connector.Connection, url string) (connector.ImageFile, error) {
	if strings.Contains(url, "missing") {
		return connector.ImageFile{}, &connector.Error{Kind: connector.ErrInvalid, Message: `The featured image URL answered HTTP 404 with "text/html", not an image.`}
	}
	return connector.ImageFile{URL: url, Name: "image.png", ContentType: "image/png", Data: []byte("png")}, nil
}

type patchCall struct {
	ext string
	ch  connector.Patch
}

// recordingPlatform records the writes and deletes a push makes.
type recordingPlatform struct {
	*fakePlatform
	mu        sync.Mutex
	patches   []patchCall
	deletes   []string // "<id> force=<bool>"
	deleteErr error
	updateErr error // answered to every update
	uploads   int   // images uploaded, given ids from 5001
}

func (p *recordingPlatform) Patch(ctx context.Context, c connector.Connection, model, ext string, ch connector.Patch) (integration.Record, error) {
	p.mu.Lock()
	p.patches = append(p.patches, patchCall{ext, ch})
	err := p.updateErr
	p.mu.Unlock()
	if err != nil && ext != "" {
		return integration.Record{}, err
	}
	r, err := p.fakePlatform.Patch(ctx, c, model, ext, ch)
	if img := ch.FeaturedImage; err == nil && img != nil && !img.Remove {
		id := img.ExternalID
		if img.File != nil {
			p.mu.Lock()
			p.uploads++
			id = strconv.Itoa(5000 + p.uploads)
			p.mu.Unlock()
		}
		r.FeaturedImage = &integration.Image{ExternalID: id}
	}
	return r, err
}

func (p *recordingPlatform) Delete(_ context.Context, _ connector.Connection, model, ext string, force bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deletes = append(p.deletes, fmt.Sprintf("%s force=%v", ext, force))
	if p.deleteErr != nil {
		return p.deleteErr
	}
	p.fakePlatform.mu.Lock()
	delete(p.fakePlatform.posts, mustAtoi(ext))
	p.fakePlatform.mu.Unlock()
	return nil
}

func mustAtoi(s string) int { n, _ := strconv.Atoi(s); return n }

func newRecordingHarness(t *testing.T) (*harness, *recordingPlatform) {
	h := newDirectHarness(t, newPlatform(0))
	rp := &recordingPlatform{fakePlatform: h.platform}
	h.engine.Connectors["wordpress"] = rp
	return h, rp
}

// pushData pushes data to local id "a" and applies it.
func (h *harness) pushData(data string) *integration.Push {
	h.t.Helper()
	d, err := syncer.ParsePushData([]byte(data))
	if err != nil {
		h.t.Fatal(err)
	}
	p, err := h.engine.Push(context.Background(), h.actor, h.it.ID, "post", "a", d)
	if err != nil {
		h.t.Fatal(err)
	}
	h.drive()
	got, err := h.store.GetPush(context.Background(), h.it.ID, p.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return got
}

func show(s *string) string {
	if s == nil {
		return "-"
	}
	return fmt.Sprintf("%q", *s)
}

func showTerms(ts *[]integration.Term) string {
	if ts == nil {
		return "-"
	}
	var names []string
	for _, t := range *ts {
		names = append(names, t.Name)
	}
	return "[" + strings.Join(names, ",") + "]"
}

// describe shows what a write sets: "-" is a field left as it is.
func describe(ch connector.Patch) string {
	img := "-"
	if f := ch.FeaturedImage; f != nil {
		img = fmt.Sprintf("{remove %v id %q file %v alt %s}", f.Remove, f.ExternalID, f.File != nil, show(f.Alt))
	}
	return fmt.Sprintf("title %s body %s excerpt %s slug %s status %s cats %s tags %s image %s",
		show(ch.Title), show(ch.BodyHTML), show(ch.Excerpt), show(ch.Slug), show(ch.Status), showTerms(ch.Categories), showTerms(ch.Tags), img)
}

func TestAPushWritesOnlyTheFieldsItCarries(t *testing.T) {
	h, rp := newRecordingHarness(t)
	steps := []struct {
		data string
		want []string // the writes, in order
	}{
		{`{"title": "Hello", "body_html": "<p>Hi</p>", "status": "publish", "categories": ["News"], "featured_image_url": "https://cdn.example.com/a.png"}`, []string{
			`title "Hello" body "<p>Hi</p>" excerpt - slug "joinery-` + "%s" + `" status "draft" cats - tags - image -`,
			`title - body - excerpt - slug "Hello" status "publish" cats [News] tags - image {remove false id "" file true alt -}`}},
		// Only the title: the slug, status, body and terms stay.
		{`{"title": "Hello again"}`, []string{`title "Hello again" body - excerpt - slug - status - cats - tags - image -`}},
		// "" slug and null status keep theirs; null clears, [] removes all terms;
		// the image already uploaded is reused.
		{`{"slug": "", "status": null, "excerpt": null, "categories": [], "tags": null, "featured_image_url": "https://cdn.example.com/a.png", "featured_image_alt": "Alt"}`, []string{
			`title - body - excerpt "" slug - status - cats [] tags [] image {remove false id "5001" file false alt "Alt"}`}},
		{`{"featured_image_url": null, "slug": "new-url", "status": ""}`, []string{`title - body - excerpt - slug "new-url" status - cats - tags - image {remove true id "" file false alt -}`}},
	}
	for i, s := range steps {
		rp.patches = nil
		p := h.pushData(s.data)
		if p.Status != integration.PushDone {
			t.Fatalf("push %d: %s %s", i, p.Status, p.Error)
		}
		var got []string
		for _, c := range rp.patches {
			got = append(got, describe(c.ch))
		}
		want := append([]string{}, s.want...)
		if i == 0 {
			want[0] = fmt.Sprintf(want[0], strings.ToLower(p.ID))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("push %d %s wrote\n%s\nwant\n%s", i, s.data, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func TestAFirstPushWithoutStatusIsADraft(t *testing.T) {
	h, rp := newRecordingHarness(t)
	if p := h.pushData(`{"body_html": "<p>x</p>"}`); p.Status != integration.PushDone {
		t.Fatalf("push: %s %s", p.Status, p.Error)
	}
	if got := describe(rp.patches[1].ch); got != `title - body - excerpt - slug "" status "draft" cats - tags - image -` {
		t.Fatalf("the write after the draft: %s", got)
	}
}

// A first push whose image cannot be fetched fails before anything is
// created on the platform.
func TestAFirstPushWithAMissingImageCreatesNothing(t *testing.T) {
	h, rp := newRecordingHarness(t)
	p := h.pushData(`{"title": "T", "featured_image_url": "https://cdn.example.com/missing.png"}`)
	if p.Status != integration.PushFailed || !strings.Contains(p.Error, "404") || len(rp.patches) != 0 || len(rp.deletes) != 0 {
		t.Fatalf("push %s %q; %d writes, deletes %v; want failed, nothing written", p.Status, p.Error, len(rp.patches), rp.deletes)
	}
}

// The draft of a first push that fails for good is deleted for good, and
// the next push creates the item afresh.
func TestAFailedFirstPushDeletesItsDraft(t *testing.T) {
	for name, setup := range map[string]func(*recordingPlatform){
		"refused": func(p *recordingPlatform) {
			p.updateErr = &connector.Error{Kind: connector.ErrInvalid, Message: "WordPress rejected the post."}
		},
		"retried out": func(p *recordingPlatform) {
			p.updateErr = &connector.Error{Kind: connector.ErrUnavailable, Message: "The site did not answer in time."}
		},
	} {
		t.Run(name, func(t *testing.T) {
			h, rp := newRecordingHarness(t)
			h.engine.Backoff = func(int, time.Duration) time.Duration { return 0 }
			setup(rp)
			p := h.pushData(`{"title": "T"}`)
			if p.Status != integration.PushFailed || strings.Contains(p.Error, "draft") || fmt.Sprint(rp.deletes) != "[1001 force=true]" {
				t.Fatalf("push %s %q, deletes %v; want failed, 1001 deleted with force", p.Status, p.Error, rp.deletes)
			}
			rp.updateErr = nil
			if p := h.pushData(`{"title": "T"}`); p.Status != integration.PushDone || p.ExternalID != "1002" {
				t.Fatalf("the next push: %s %q as %s; want done as a new item 1002", p.Status, p.Error, p.ExternalID)
			}
		})
	}
}

func TestADraftThatCannotBeDeletedIsNamed(t *testing.T) {
	h, rp := newRecordingHarness(t)
	rp.updateErr = &connector.Error{Kind: connector.ErrInvalid, Message: "WordPress rejected the post."}
	rp.deleteErr = &connector.Error{Kind: connector.ErrForbidden, Message: "The user may not delete posts."}
	p := h.pushData(`{"title": "T"}`)
	if p.Status != integration.PushFailed || !strings.Contains(p.Error, "WordPress rejected the post.") || !strings.Contains(p.Error, "post 1001") || !strings.Contains(p.Error, "may not delete") {
		t.Fatalf("push %s %q; want failed, naming post 1001 left behind", p.Status, p.Error)
	}
	// The next push takes the draft over instead of leaving a second one.
	rp.updateErr = nil
	if p := h.pushData(`{"title": "T"}`); p.Status != integration.PushDone || p.ExternalID != "1001" {
		t.Fatalf("the next push: %s %q as %s", p.Status, p.Error, p.ExternalID)
	}
}

// publishedPlatform answers every read of an item as published: the mark
// a worker leaves when it stopped after a first push's write got through.
type publishedPlatform struct{ *recordingPlatform }

func (p publishedPlatform) Get(ctx context.Context, c connector.Connection, model, ext string) (integration.Record, error) {
	r, err := p.recordingPlatform.Get(ctx, c, model, ext)
	r.Status = "publish"
	return r, err
}

// An item the platform shows as published is never deleted as a leftover
// draft, even when the push that made it is marked as not through.
func TestAPublishedItemIsNotDeletedAsADraft(t *testing.T) {
	h, rp := newRecordingHarness(t)
	h.engine.Connectors["wordpress"] = publishedPlatform{rp}
	rp.updateErr = &connector.Error{Kind: connector.ErrInvalid, Message: "WordPress rejected the post."}
	if p := h.pushData(`{"title": "T"}`); p.Status != integration.PushFailed || len(rp.deletes) != 0 {
		t.Fatalf("push %s %q, deletes %v; want failed and nothing deleted", p.Status, p.Error, rp.deletes)
	}
	rp.updateErr = nil
	if p := h.pushData(`{"title": "T2"}`); p.Status != integration.PushDone || p.ExternalID != "1001" {
		t.Fatalf("the next push: %s %q as %s; want done on the same item 1001", p.Status, p.Error, p.ExternalID)
	}
}
