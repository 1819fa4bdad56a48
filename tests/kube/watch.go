// Watch: ?watch=1 streams one JSON event a line (ADDED, MODIFIED,
// DELETED, BOOKMARK, ERROR) from a resourceVersion, replaying what
// happened since from a bounded history; a resourceVersion older than the
// history gets the 410 Expired ERROR event the API server sends. Events
// are queued under the store's lock and written by the watch's own
// goroutine, so a slow client never holds the lock.
package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
)

const historySize = 10000

type event struct {
	typ string
	t   *resType
	rv  uint64
	obj map[string]interface{}
}

type watcher struct {
	tg  *target
	sel *selection
	ch  chan event
}

type watchHub struct {
	history   []event
	compacted uint64 // events at or below this resourceVersion are forgotten
	subs      map[*watcher]bool
	mu        sync.Mutex // guards subs against the watchers' goroutines
	// observe, when set, is told every event (the simulated
	// controllers); it must not block nor take the store's lock.
	observe func(event)
}

func (h *watchHub) init() { h.subs = map[*watcher]bool{} }

func (wt *watcher) wants(ev event) bool {
	if ev.t != wt.tg.t {
		return false
	}
	if wt.tg.ns != "" && str(meta(ev.obj), "namespace") != wt.tg.ns {
		return false
	}
	return wt.sel.matches(ev.obj)
}

// send records an event; the caller holds the store's lock.
func (h *watchHub) send(s *store, typ string, o *object) {
	ev := event{typ: typ, t: o.t, rv: s.rv, obj: s.render(o)}
	h.history = append(h.history, ev)
	if len(h.history) > historySize {
		h.compacted = h.history[0].rv
		h.history = h.history[1:]
	}
	if h.observe != nil {
		h.observe(ev)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for wt := range h.subs {
		if !wt.wants(ev) {
			continue
		}
		select {
		case wt.ch <- ev:
		default:
			// Too slow a reader: end its watch, as the server does.
			delete(h.subs, wt)
			close(wt.ch)
		}
	}
}

// compact forgets the history, so that watches from any earlier
// resourceVersion are told 410 Expired.
func (h *watchHub) compact(s *store) {
	h.history = nil
	h.compacted = s.rv
}

func (s *store) watch(w http.ResponseWriter, r *http.Request, tg *target) *apiError {
	sel, e := parseSelection(r)
	if e != nil {
		return e
	}
	q := r.URL.Query()
	bookmarks := q.Get("allowWatchBookmarks") == "true"
	timeout := 30 * time.Minute
	if ts := q.Get("timeoutSeconds"); ts != "" {
		n, err := strconv.Atoi(ts)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, "BadRequest", "invalid timeoutSeconds %q", ts)
		}
		if n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return errorf(http.StatusInternalServerError, "InternalError", "streaming unsupported")
	}
	wt := &watcher{tg: tg, sel: sel, ch: make(chan event, 4096)}
	var first []event
	expired := false

	s.mu.Lock()
	rvParam := q.Get("resourceVersion")
	initial := rvParam == "" || rvParam == "0" || q.Get("sendInitialEvents") == "true"
	if initial {
		_, objs := s.selected(tg, sel)
		for _, o := range objs {
			first = append(first, event{typ: "ADDED", t: o.t, obj: s.render(o)})
		}
	} else {
		from, err := strconv.ParseUint(rvParam, 10, 64)
		if err != nil {
			s.mu.Unlock()
			return errorf(http.StatusBadRequest, "BadRequest", "invalid resourceVersion %q", rvParam)
		}
		if from < s.watchers.compacted {
			expired = true
		}
		for _, ev := range s.watchers.history {
			if ev.rv > from && wt.wants(ev) {
				first = append(first, ev)
			}
		}
	}
	current := s.rv
	if !expired {
		s.watchers.mu.Lock()
		s.watchers.subs[wt] = true
		s.watchers.mu.Unlock()
	}
	s.mu.Unlock()
	defer func() {
		s.watchers.mu.Lock()
		if s.watchers.subs[wt] {
			delete(s.watchers.subs, wt)
			close(wt.ch)
		}
		s.watchers.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	write := func(typ string, obj interface{}) bool {
		if err := enc.Encode(map[string]interface{}{"type": typ, "object": obj}); err != nil {
			return false
		}
		flusher.Flush()
		return true
	}
	if expired {
		write("ERROR", statusObject(http.StatusGone, "Expired",
			"too old resource version: "+rvParam+" ("+strconv.FormatUint(s.watchers.compacted, 10)+")", nil))
		return nil
	}
	for _, ev := range first {
		if !write(ev.typ, ev.obj) {
			return nil
		}
	}
	bookmark := func(rv uint64, end bool) bool {
		m := map[string]interface{}{"resourceVersion": strconv.FormatUint(rv, 10)}
		if end {
			m["annotations"] = map[string]interface{}{"k8s.io/initial-events-end": "true"}
		}
		return write("BOOKMARK", map[string]interface{}{"kind": tg.t.kind, "apiVersion": tg.t.gv(), "metadata": m})
	}
	if q.Get("sendInitialEvents") == "true" && bookmarks && !bookmark(current, true) {
		return nil
	}
	last := current
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-wt.ch:
			if !ok || !write(ev.typ, ev.obj) {
				return nil
			}
			last = ev.rv
		case <-tick.C:
			if bookmarks && !bookmark(last, false) {
				return nil
			}
		case <-deadline.C:
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
}
