package syncer_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/syncer"
)

// modelPlatform is the platform the model test syncs from: WordPress as
// the engine sees it through its connector. Items of every model share one
// id space and are listed by id, in windows (offset and limit); an
// incremental listing keeps the items modified strictly after the cursor
// less the connector's overlap, compared to the second, on the platform's
// own clock (the test's clock plus a skew). An answer whose items add up
// to more than the byte cap is refused as too large.
type modelPlatform struct {
	w       *world
	models  []string
	capSize int // bytes one answer may carry
	maxPage int // the largest limit a listing accepts
	skew    time.Duration

	mu     sync.Mutex
	items  map[int]*mItem
	nextID int
	edits  int
}

var (
	_ connector.Connector     = (*modelPlatform)(nil)
	_ connector.Windowed      = (*modelPlatform)(nil)
	_ connector.IDLister      = (*modelPlatform)(nil)
	_ connector.Getter        = (*modelPlatform)(nil)
	_ syncer.ExistenceChecker = (*modelPlatform)(nil)
)

// mItem is one item and every state it has had.
type mItem struct {
	id       int
	model    string
	title    string
	body     string
	size     int  // what an answer carrying it weighs
	broken   bool // listed among a page's failures: its data can't be read
	bulky    bool
	created  time.Time
	modified time.Time // the platform's clock, to the second
	trashed  bool      // listed, as deleted
	gone     bool      // deleted for good: listed no more
	versions []mVersion
}

// mVersion is a state of an item a record may legitimately hold.
type mVersion struct {
	title, body string
	modified    time.Time
	trashed     bool
}

// platformOverlap is what the WordPress connector subtracts from a cursor.
const platformOverlap = 2 * time.Second

func (p *modelPlatform) now() time.Time { return p.w.clock.peek().Add(p.skew) }

// stamp is the platform's clock as its Date header and modification
// times give it: to the second.
func (p *modelPlatform) stamp() time.Time { return p.now().Truncate(time.Second) }

func (it *mItem) snapshot() {
	it.versions = append(it.versions, mVersion{it.title, it.body, it.modified, it.trashed})
}

func (it *mItem) record() integration.Record {
	status := "publish"
	if it.trashed {
		status = "trash"
	}
	return integration.Record{ExternalID: strconv.Itoa(it.id), Model: it.model, Title: it.title, BodyHTML: it.body, Status: status,
		CreatedAt: it.created, ModifiedAt: it.modified, Deleted: it.trashed}
}

func (p *modelPlatform) TestConnection(context.Context, connector.Connection) (connector.TestResult, error) {
	return connector.TestResult{OK: true}, nil
}

func (p *modelPlatform) Structure(context.Context, connector.Connection) (connector.Structure, error) {
	var s connector.Structure
	for _, m := range p.models {
		s.ContentTypes = append(s.ContentTypes, connector.ContentType{Name: m})
	}
	return s, nil
}

func (p *modelPlatform) Models() []string { return p.models }

// WindowToken and PageToken are the WordPress connector's: "@<offset>"
// and page numbers.
func (p *modelPlatform) WindowToken(offset int) string { return "@" + strconv.Itoa(offset) }
func (p *modelPlatform) PageToken(n int) string        { return strconv.Itoa(n) }
func (p *modelPlatform) MaxPageSize() int              { return p.maxPage }

func (p *modelPlatform) Create(context.Context, connector.Connection, integration.Record) (integration.Record, error) {
	return integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: "the model platform takes no pushes"}
}
func (p *modelPlatform) Update(context.Context, connector.Connection, integration.Record) (integration.Record, error) {
	return integration.Record{}, &connector.Error{Kind: connector.ErrInvalid, Message: "the model platform takes no pushes"}
}
func (p *modelPlatform) Delete(context.Context, connector.Connection, string, string, bool) error {
	return &connector.Error{Kind: connector.ErrInvalid, Message: "the model platform takes no pushes"}
}

func (p *modelPlatform) hasModel(m string) bool {
	for _, x := range p.models {
		if x == m {
			return true
		}
	}
	return false
}

// enter is the start of every platform call: the point where another job
// may run first, the platform may change, or the call may fail.
func (p *modelPlatform) enter(ctx context.Context, what string) error {
	p.w.yield(ctx, what)
	if p.w.inJob(ctx) && p.w.isMutating() && p.w.chance(p.w.p.pHook) {
		p.w.mutate("during " + what)
	}
	return p.w.platformFault(ctx, what)
}

// leave is the end of a listing call: the platform may change after it
// answered and before the answer arrives.
func (p *modelPlatform) leave(ctx context.Context, what string) {
	if p.w.inJob(ctx) && p.w.isMutating() && p.w.chance(p.w.p.pHook/2) {
		p.w.mutate("after " + what)
	}
}

// window resolves a listing request to its items, the listing's size and
// the platform's clock when it answered.
func (p *modelPlatform) window(req connector.ListRequest) ([]*mItem, int, int, int, time.Time, error) {
	if !p.hasModel(req.Model) {
		return nil, 0, 0, 0, time.Time{}, &connector.Error{Kind: connector.ErrInvalid, Status: 400, Message: fmt.Sprintf("no model %q", req.Model)}
	}
	size := req.PageSize
	if size <= 0 {
		size = min(10, p.maxPage)
	}
	if size > p.maxPage {
		return nil, 0, 0, 0, time.Time{}, &connector.Error{Kind: connector.ErrInvalid, Status: 400, Message: fmt.Sprintf("per_page %d is above the platform's %d", size, p.maxPage)}
	}
	offset := 0
	switch {
	case req.Page == "":
	case strings.HasPrefix(req.Page, "@"):
		n, err := strconv.Atoi(req.Page[1:])
		if err != nil || n < 0 {
			return nil, 0, 0, 0, time.Time{}, &connector.Error{Kind: connector.ErrInvalid, Status: 400, Message: "bad page token " + req.Page}
		}
		offset = n
	default:
		n, err := strconv.Atoi(req.Page)
		if err != nil || n < 1 {
			return nil, 0, 0, 0, time.Time{}, &connector.Error{Kind: connector.ErrInvalid, Status: 400, Message: "bad page token " + req.Page}
		}
		offset = (n - 1) * size
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var list []*mItem
	cutoff := time.Time{}
	if !req.ModifiedAfter.IsZero() {
		// modified_after goes as RFC 3339 without fractions: to the second.
		cutoff = req.ModifiedAfter.Add(-platformOverlap).UTC().Truncate(time.Second)
	}
	for _, it := range p.items {
		if it.gone || it.model != req.Model {
			continue
		}
		if !cutoff.IsZero() && !it.modified.After(cutoff) {
			continue
		}
		list = append(list, it)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].id < list[j].id })
	total := len(list)
	win := list[min(offset, total):min(offset+size, total)]
	return append([]*mItem(nil), win...), offset, size, total, p.stamp(), nil
}

func (p *modelPlatform) List(ctx context.Context, _ connector.Connection, req connector.ListRequest) (connector.ListPage, error) {
	if err := p.enter(ctx, "List "+req.Model+" "+req.Page); err != nil {
		return connector.ListPage{}, err
	}
	win, offset, size, total, at, err := p.window(req)
	if err != nil {
		return connector.ListPage{}, err
	}
	p.mu.Lock()
	weight := 0
	out := connector.ListPage{Total: total, TotalPages: (total + size - 1) / size, ServerTime: at}
	for _, it := range win {
		weight += it.size
		if it.broken {
			out.Failed = append(out.Failed, connector.ItemFailure{ExternalID: strconv.Itoa(it.id), Message: "WordPress answered JSON that Joinery could not read."})
			continue
		}
		out.Records = append(out.Records, it.record())
		if it.modified.After(out.MaxModified) {
			out.MaxModified = it.modified
		}
	}
	p.mu.Unlock()
	if weight > p.capSize {
		p.w.tracef("  platform: %s %s: %d items, %d bytes: too large", req.Model, req.Page, len(win), weight)
		return connector.ListPage{}, &connector.Error{Kind: connector.ErrTooLarge,
			Message: fmt.Sprintf("The site's answer was larger than %d bytes, the most Joinery reads in one answer.", p.capSize)}
	}
	if offset+size < total {
		out.NextPage = p.WindowToken(offset + size)
	}
	p.w.tracef("  platform: %s %s (limit %d, after %s): %s of %d", req.Model, req.Page, size, shortTime(req.ModifiedAfter), idList(win), total)
	p.leave(ctx, "List")
	return out, nil
}

func (p *modelPlatform) ListIDs(ctx context.Context, _ connector.Connection, req connector.ListRequest) ([]string, error) {
	if err := p.enter(ctx, "ListIDs "+req.Model+" "+req.Page); err != nil {
		return nil, err
	}
	win, _, _, _, _, err := p.window(req)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(win))
	for i, it := range win {
		ids[i] = strconv.Itoa(it.id)
	}
	p.w.tracef("  platform: ids of %s %s (limit %d): %v", req.Model, req.Page, req.PageSize, ids)
	p.leave(ctx, "ListIDs")
	return ids, nil
}

func (p *modelPlatform) lookup(model, ext string) (*mItem, bool) {
	id, err := strconv.Atoi(ext)
	if err != nil {
		return nil, false
	}
	it, ok := p.items[id]
	if !ok || it.gone || it.model != model {
		return nil, false
	}
	return it, true
}

func (p *modelPlatform) Get(ctx context.Context, _ connector.Connection, model, ext string) (integration.Record, error) {
	if err := p.enter(ctx, "Get "+model+"/"+ext); err != nil {
		return integration.Record{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	it, ok := p.lookup(model, ext)
	switch {
	case !ok:
		p.w.tracef("  platform: get %s/%s: not found", model, ext)
		return integration.Record{}, &connector.Error{Kind: connector.ErrNotFound, Status: 404, Message: "no such item"}
	case it.size > p.capSize:
		p.w.tracef("  platform: get %s/%s: too large", model, ext)
		return integration.Record{}, &connector.Error{Kind: connector.ErrTooLarge,
			Message: fmt.Sprintf("The site's answer was larger than %d bytes, the most Joinery reads in one answer.", p.capSize)}
	case it.broken:
		p.w.tracef("  platform: get %s/%s: unreadable", model, ext)
		return integration.Record{}, &connector.Error{Kind: connector.ErrUnavailable, Message: "WordPress answered JSON that Joinery could not read."}
	}
	p.w.tracef("  platform: get %s/%s: %q", model, ext, it.title)
	return it.record(), nil
}

func (p *modelPlatform) Exists(ctx context.Context, _ connector.Connection, model, ext string) (bool, error) {
	if err := p.enter(ctx, "Exists "+model+"/"+ext); err != nil {
		return false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.lookup(model, ext)
	p.w.tracef("  platform: exists %s/%s: %v", model, ext, ok)
	return ok, nil
}

// Mutations. Each advances the clock a little first, so edits land in the
// same second as others or in a later one.

// ids returns the ids of items not gone that match keep, in id order.
func (p *modelPlatform) ids(keep func(*mItem) bool) []int {
	var out []int
	for id, it := range p.items {
		if !it.gone && keep(it) {
			out = append(out, id)
		}
	}
	sort.Ints(out)
	return out
}

// body is an item's text: short, or for a bulky item a few hundred KiB
// that do not compress, so a store must keep it in parts.
func (p *modelPlatform) body(id, version int, bulky bool) string {
	if !bulky {
		return fmt.Sprintf("<p>Body of %d, version %d: %s</p>", id, version, strings.Repeat("lorem ", p.w.intn(20)))
	}
	raw := make([]byte, 420<<10+p.w.intn(80<<10))
	for i := 0; i < len(raw); i += 8 {
		v := p.w.uint64()
		for j := 0; j < 8 && i+j < len(raw); j++ {
			raw[i+j] = byte(v >> (8 * j))
		}
	}
	return fmt.Sprintf("<p>Bulky %d.%d</p>", id, version) + base64.StdEncoding.EncodeToString(raw)
}

func (p *modelPlatform) normalSize() int { return 40 + p.w.intn(p.capSize/3) }
func (p *modelPlatform) hugeSize() int   { return p.capSize + 1 + p.w.intn(p.capSize) }

// create adds an item with the next id.
func (p *modelPlatform) create(model string, bulky, huge bool) *mItem {
	p.nextID++
	p.edits++
	id := p.nextID
	now := p.stamp()
	it := &mItem{id: id, model: model, title: fmt.Sprintf("Item %d v%d", id, p.edits), created: now, modified: now, bulky: bulky}
	it.body = p.body(id, p.edits, bulky)
	it.size = p.normalSize()
	if huge {
		it.size = p.hugeSize()
	}
	it.snapshot()
	p.items[id] = it
	return it
}

// mutate applies one random change and says what it did.
func (p *modelPlatform) mutate() string {
	p.w.clock.advance(time.Duration(p.w.intn(2500)) * time.Millisecond)
	p.mu.Lock()
	defer p.mu.Unlock()
	pick := func(ids []int) *mItem {
		if len(ids) == 0 {
			return nil
		}
		return p.items[ids[p.w.intn(len(ids))]]
	}
	touch := func(it *mItem) {
		p.edits++
		it.modified = p.stamp()
		if it.modified.Before(it.versions[len(it.versions)-1].modified) {
			panic("the platform's clock went back")
		}
	}
	live := func(it *mItem) bool { return !it.trashed }
	trashed := func(it *mItem) bool { return it.trashed }
	all := func(*mItem) bool { return true }
	switch r := p.w.intn(100); {
	case r < 18:
		it := p.create(p.models[p.w.intn(len(p.models))], false, p.w.chance(p.w.p.pOversize))
		return fmt.Sprintf("create %s/%d (%d bytes)", it.model, it.id, it.size)
	case r < 50:
		it := pick(p.ids(live))
		if it == nil {
			return "edit: nothing to edit"
		}
		touch(it)
		it.title = fmt.Sprintf("Item %d v%d", it.id, p.edits)
		it.body = p.body(it.id, p.edits, it.bulky)
		what := "edit"
		switch {
		case it.size > p.capSize && p.w.chance(0.6):
			it.size, what = p.normalSize(), "edit (now small)"
		case it.size <= p.capSize && p.w.chance(p.w.p.pOversize):
			it.size, what = p.hugeSize(), "edit (now too large)"
		case it.broken && p.w.chance(0.6):
			it.broken, what = false, "edit (readable again)"
		case !it.broken && p.w.chance(p.w.p.pBroken):
			it.broken, what = true, "edit (now unreadable)"
		}
		it.snapshot()
		return fmt.Sprintf("%s %s/%d: %q at %s", what, it.model, it.id, it.title, shortTime(it.modified))
	case r < 62:
		it := pick(p.ids(live))
		if it == nil {
			return "trash: nothing to trash"
		}
		touch(it)
		it.trashed = true
		it.snapshot()
		return fmt.Sprintf("trash %s/%d at %s", it.model, it.id, shortTime(it.modified))
	case r < 70:
		it := pick(p.ids(trashed))
		if it == nil {
			return "untrash: nothing trashed"
		}
		touch(it)
		it.trashed = false
		it.snapshot()
		return fmt.Sprintf("untrash %s/%d at %s", it.model, it.id, shortTime(it.modified))
	case r < 82:
		it := pick(p.ids(all))
		if it == nil {
			return "delete: nothing to delete"
		}
		it.gone = true
		return fmt.Sprintf("delete %s/%d for good", it.model, it.id)
	default:
		// Items early in the listing go (their windows are likely read
		// already) and as many new ones come at the end: the listing
		// keeps its size but shifts.
		ids := p.ids(all)
		n := 1 + p.w.intn(2)
		var parts []string
		for i := 0; i < n && len(ids) > 0; i++ {
			k := p.w.intn(min(len(ids), 4))
			it := p.items[ids[k]]
			ids = append(ids[:k], ids[k+1:]...)
			it.gone = true
			nw := p.create(it.model, false, false)
			parts = append(parts, fmt.Sprintf("%s/%d gone, %d new", it.model, it.id, nw.id))
		}
		return "shift: " + strings.Join(parts, ", ")
	}
}

// unreadable reports whether no answer can carry the item.
func (p *modelPlatform) unreadable(it *mItem) bool { return it.size > p.capSize || it.broken }

// shrink makes every item that can't be read readable again (an edit).
func (p *modelPlatform) shrink() []int {
	p.w.clock.advance(time.Second)
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for _, id := range p.ids(p.unreadable) {
		it := p.items[id]
		p.edits++
		it.modified = p.stamp()
		it.size, it.broken = p.normalSize(), false
		it.title = fmt.Sprintf("Item %d v%d (shrunk)", it.id, p.edits)
		it.snapshot()
		out = append(out, id)
	}
	return out
}

func idList(items []*mItem) string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = strconv.Itoa(it.id)
	}
	return "[" + strings.Join(ids, " ") + "]"
}

func shortTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("15:04:05.000")
}
