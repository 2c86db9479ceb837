package syncer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/joinery/joinery/pkg/connector"
	"github.com/joinery/joinery/pkg/integration"
	"github.com/joinery/joinery/pkg/safehttp"
)

// A positional listing (connector.Windowed) is read as windows. The plan
// reads positions [0, P); window k ≥ 1 reads P+1 items from k*P-1, so its
// first item is the previous window's last. Each read is kept as a
// PageRead; when the run finishes, shifted compares them: an item deleted
// before a window was read moves the window's items one place up and its
// first item is no longer the previous window's last, even when an insert
// elsewhere keeps the total unchanged.

// windowSize is P: the first window's size, and every later window's less
// its overlap, so that P+1 fits in one answer.
func (e *Engine) windowSize(w connector.Windowed) int {
	p := e.PageSize
	if p <= 0 {
		p = 100
	}
	return max(min(p, w.MaxPageSize()-1), 1)
}

// maxBodyBytes is the largest answer the HTTP client reads.
func (e *Engine) maxBodyBytes() int64 {
	if e.MaxBodyBytes > 0 {
		return e.MaxBodyBytes
	}
	return safehttp.DefaultMaxBodyBytes
}

// lister reads one model's windows for one job and keeps what it did.
type lister struct {
	e     *Engine
	run   *integration.Run
	jobID string
	model string
	conn  connector.Connection
	c     connector.Connector
	w     connector.Windowed

	progress integration.Progress
	seen     []string
	failed   map[string]bool
	// clock is the platform's clock at its first answer (zero: it sent
	// none), answered whether there was one.
	clock    time.Time
	answered bool
}

func (e *Engine) lister(run *integration.Run, jobID, model string, conn connector.Connection, c connector.Connector, w connector.Windowed) *lister {
	return &lister{e: e, run: run, jobID: jobID, model: model, conn: conn, c: c, w: w, failed: map[string]bool{}}
}

// span is what reading positions [offset, offset+limit) found: count
// items, the first and last named, the total the platform reported.
type span struct {
	offset, limit, count int
	first, last          string
	ids                  []string
	total                int
	doubt                bool
}

func (s span) end() int { return s.offset + s.count }

// window reads limit items from offset, writes them and reports the read.
// overlap: the window's first item is the previous window's last, seen
// (and counted) there.
func (l *lister) window(ctx context.Context, offset, limit int, overlap bool) (integration.PageRead, error) {
	seq := l.e.now().UnixNano()
	written := l.progress.ItemsWritten
	s, err := l.read(ctx, offset, limit)
	if err != nil {
		return integration.PageRead{}, err
	}
	n := s.count
	if overlap && n > 0 {
		n--
	}
	l.progress.PagesDone++
	l.progress.ItemsSeen += int64(n)
	l.progress.ItemsFailed = int64(len(l.failed))
	written = l.progress.ItemsWritten - written
	_ = l.e.event(ctx, l.run, "page", "ok", l.model, fmt.Sprintf("%s: %d items, %d written", l.model, n, written),
		map[string]any{"items_seen": n, "items_written": written, "offset": offset})
	return integration.PageRead{Model: l.model, Offset: offset, Limit: limit, Count: s.count, FirstID: s.first, LastID: s.last,
		IDs: s.ids, Total: s.total, Doubt: s.doubt, Seq: seq}, nil
}

// read reads positions [o, o+n). An answer too large to take is read
// again as two halves, the second starting one item early so the halves
// can be checked to line up, down to single items.
func (l *lister) read(ctx context.Context, o, n int) (span, error) {
	page, err := l.c.List(ctx, l.conn, connector.ListRequest{Model: l.model, Page: l.w.WindowToken(o), ModifiedAfter: l.run.Since[l.model], PageSize: n})
	if err == nil {
		return l.answer(ctx, o, n, page)
	}
	if !isKind(err, connector.ErrTooLarge) {
		return span{}, err
	}
	if n == 1 {
		return l.tooLarge(ctx, o)
	}
	h := (n + 1) / 2
	a, err := l.read(ctx, o, h)
	if err != nil {
		return span{}, err
	}
	// Two items can't be halved with an overlap (the second half would be
	// the whole): read one by one.
	overlap := n >= 3
	bo := o + h
	if overlap {
		bo--
	}
	b, err := l.read(ctx, bo, o+n-bo)
	if err != nil {
		return span{}, err
	}
	s := join(o, n, a, b, overlap)
	if !overlap && !s.doubt {
		// Without an overlap nothing shows that the second item was
		// read where the first ended: list the pair's ids once more.
		same, err := l.samePair(ctx, o, a, b)
		if err != nil {
			return span{}, err
		}
		s.doubt = !same
	}
	return s, nil
}

// samePair reports whether positions o and o+1 still hold the items the
// single reads a and b named, so that no item can have slipped between
// them. A connector that can't list ids can't show it.
func (l *lister) samePair(ctx context.Context, o int, a, b span) (bool, error) {
	if a.count+b.count == 0 {
		return true, nil
	}
	il, ok := l.c.(connector.IDLister)
	if !ok || len(a.ids) != a.count || len(b.ids) != b.count {
		return false, nil
	}
	ids, err := il.ListIDs(ctx, l.conn, connector.ListRequest{Model: l.model, Page: l.w.WindowToken(o), ModifiedAfter: l.run.Since[l.model], PageSize: 2})
	if err != nil {
		if transient(err) {
			return false, err
		}
		return false, nil
	}
	return slices.Equal(ids, append(slices.Clone(a.ids), b.ids...)), nil
}

// join combines the spans of two halves of [o, o+n).
func join(o, n int, a, b span, overlap bool) span {
	s := span{offset: o, limit: n, doubt: a.doubt || b.doubt, total: a.total, first: a.first}
	if b.total >= 0 {
		s.total = b.total
		if a.total >= 0 && b.total < a.total {
			s.doubt = true // items left the listing between the halves
		}
	}
	s.ids = append(slices.Clone(a.ids), b.ids...)
	if overlap && a.count == a.limit && (b.count == 0 || !slices.Contains(a.ids, b.first)) {
		s.doubt = true // the second half does not start where the first ended
	}
	if a.count == 0 {
		s.first = b.first
	}
	s.count, s.last = a.count, a.last
	if b.count > 0 && b.end()-o >= s.count {
		s.count, s.last = b.end()-o, b.last
	}
	return s
}

// answer writes an answered page and sums it up as a span.
func (l *lister) answer(ctx context.Context, o, n int, page connector.ListPage) (span, error) {
	if !l.answered {
		l.answered, l.clock = true, page.ServerTime
	}
	st, err := l.e.storePage(ctx, l.run, l.jobID, l.model, page)
	if err != nil {
		return span{}, err
	}
	l.progress.ItemsWritten += int64(st.written)
	l.seen = append(l.seen, st.ids...)
	for _, f := range page.Failed {
		l.failed[cmp.Or(f.ExternalID, fmt.Sprintf("#%d", o))] = true
	}
	s := span{offset: o, limit: n, count: len(page.Records) + len(page.Failed), total: page.Total}
	ids := st.ids
	if len(page.Failed) > 0 {
		// The page lists its unreadable items apart from the rest; their
		// positions come from the ids alone, if the platform can list them.
		if il, ok := l.c.(connector.IDLister); ok {
			listed, err := il.ListIDs(ctx, l.conn, connector.ListRequest{Model: l.model, Page: l.w.WindowToken(o), ModifiedAfter: l.run.Since[l.model], PageSize: n})
			switch {
			case err == nil && len(listed) == s.count:
				ids = listed
			case err == nil:
				s.doubt = true // the listing changed between the two answers
			case transient(err):
				return span{}, err
			}
		}
	}
	if len(ids) > 0 {
		s.first, s.last, s.ids = ids[0], ids[len(ids)-1], ids
	}
	return s, nil
}

// tooLarge handles the item at position o, too large to read even alone:
// it is named (by listing ids only), reported and put in the retry set, so
// no run fails because of it and it is never marked deleted. An item that
// can't be named leaves the read in doubt: it can't be kept from deletion.
func (l *lister) tooLarge(ctx context.Context, o int) (span, error) {
	s := span{offset: o, limit: 1, count: 1, total: -1}
	id := ""
	if il, ok := l.c.(connector.IDLister); ok {
		ids, err := il.ListIDs(ctx, l.conn, connector.ListRequest{Model: l.model, Page: l.w.WindowToken(o), ModifiedAfter: l.run.Since[l.model], PageSize: 1})
		switch {
		case err == nil && len(ids) == 0:
			// Gone by now: the listing moved under the read.
			return span{offset: o, limit: 1, total: -1, doubt: true}, nil
		case err == nil:
			id = ids[0]
		case transient(err):
			return span{}, err
		}
	}
	if id != "" && l.failed[id] {
		// Met again by an overlapping smaller read: reported already.
		s.first, s.last, s.ids = id, id, []string{id}
		return s, nil
	}
	size := fmt.Sprintf("larger than %d bytes", l.e.maxBodyBytes())
	msg := fmt.Sprintf("%s %s is too large to read: %s", l.model, id, size)
	if id == "" {
		msg = fmt.Sprintf("the %s at position %d is too large to read: %s; it could not be named", l.model, o+1, size)
		s.doubt = true
	} else {
		if err := l.e.Store.AddRetries(ctx, l.run.IntegrationID, l.model, map[string]string{id: msg}); err != nil {
			return span{}, fmt.Errorf("add %s %s to the retry set: %w", l.model, id, err)
		}
		l.seen = append(l.seen, id)
	}
	l.failed[cmp.Or(id, fmt.Sprintf("#%d", o))] = true
	s.first, s.last = id, id
	if id != "" {
		s.ids = []string{id}
	}
	ev := integration.SyncEvent{ID: l.e.newID(), IntegrationID: l.run.IntegrationID, RunID: l.run.ID, Type: "item_failed", Status: "error",
		Model: l.model, ExternalID: id, Message: msg, At: l.e.now(), Details: map[string]any{"size": size, "max_bytes": l.e.maxBodyBytes()},
		CountKey: failedItemKey(l.run.ID, l.model, cmp.Or(id, fmt.Sprintf("#%d", o)))}
	if err := l.e.Store.AddEvents(ctx, []integration.SyncEvent{ev}); err != nil {
		return span{}, err
	}
	return s, nil
}

// shifted says how a model's listing shifted while the run read it, given
// the run's reads of it; "" if it did not. A listing that only grew (new
// items at its end, or items that entered an incremental listing before
// a read position, such as posts edited during the run) did not shift in
// a way that loses anything: every item present throughout was listed.
func shifted(reads []integration.PageRead) string {
	bySeq := slices.Clone(reads)
	slices.SortStableFunc(bySeq, func(a, b integration.PageRead) int { return cmp.Compare(a.Seq, b.Seq) })
	first, most := bySeq[0].Total, -1
	for _, r := range bySeq {
		if r.Doubt {
			return fmt.Sprintf("the smaller reads of items %d-%d did not line up", r.Offset+1, r.Offset+r.Limit)
		}
		if r.Total >= 0 {
			if r.Total < most {
				return fmt.Sprintf("it went from %d to %d items", most, r.Total)
			}
			most = r.Total
		}
	}
	byOffset := slices.Clone(bySeq)
	slices.SortStableFunc(byOffset, func(a, b integration.PageRead) int { return cmp.Compare(a.Offset, b.Offset) })
	for i := 1; i < len(byOffset); i++ {
		prev, r := byOffset[i-1], byOffset[i]
		// Its first item must be one the previous window listed: then
		// nothing between the two was missed (an item inserted before it
		// only moves the overlap back onto items already read). Anything
		// else means items left the listing before the window's position.
		if prev.Count >= prev.Limit && r.FirstID != prev.LastID && !slices.Contains(prev.IDs, r.FirstID) {
			return fmt.Sprintf("items %d-%d did not start with the previous page's last item", r.Offset+1, r.Offset+r.Limit)
		}
		// Only its first item, or none, where the first count promised
		// more: items left before it.
		if first >= 0 && r.Offset+1 < first && r.Count <= 1 {
			return fmt.Sprintf("items %d-%d came back empty", r.Offset+1, r.Offset+r.Limit)
		}
	}
	// The last read came back full and its own answer counted more: no
	// read covered the rest (a replayed job sends the windows it planned
	// the first time, from a listing that was shorter then).
	if last := byOffset[len(byOffset)-1]; last.Count >= last.Limit && last.Total > last.Offset+last.Count {
		return fmt.Sprintf("items after %d were not read", last.Offset+last.Count)
	}
	return ""
}

// isKind reports whether err is a connector error of kind k.
func isKind(err error, k connector.ErrorKind) bool {
	var ce *connector.Error
	return errors.As(err, &ce) && ce.Kind == k
}

// transient reports whether err may go away when the job is retried.
func transient(err error) bool {
	var ce *connector.Error
	if !errors.As(err, &ce) {
		return true
	}
	return ce.Kind == connector.ErrRateLimited || ce.Kind == connector.ErrUnavailable
}
