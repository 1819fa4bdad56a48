// Knobs for tests, on /double/ of the same server and reached only with
// the admin token (DIR/admin-token): injected failures for a verb and
// path pattern, latency, dropped connections, a request counter, and the
// watch history's compaction. Counting and faults run before
// authentication, so a test sees every request a client made.
package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

const adminPrefix = "/double/"

// fault matches requests by HTTP method (or "*") and path pattern
// (path.Match syntax, or a prefix ending in "/**").
type fault struct {
	Verb       string `json:"verb"`
	Path       string `json:"path"`
	Status     int    `json:"status"`
	Count      int    `json:"count"`
	RetryAfter int    `json:"retryAfter"`
	Message    string `json:"message"`
	// Skip lets the first Skip matching requests through (a LIST whose
	// second page fails).
	Skip int `json:"skip"`
	// Client, when set, limits the rule to one kind of client:
	// "bearer" (a token, as token.kubeconfig's) or "certificate" (no
	// token, as kubeconfig's): one replica cut off, the other not.
	Client string `json:"client"`
	// Body, a JSON document, is the whole answer (with Status, 200 when
	// none): a Status with causes, a page that loops, a document of
	// another shape.
	Body json.RawMessage `json:"body"`
}

type knobs struct {
	mu       sync.Mutex
	latency  time.Duration
	faults   []*fault
	drops    []*fault
	requests map[string]int
	verbs    map[string]int
	total    int
}

func newKnobs(latency time.Duration) *knobs {
	return &knobs{latency: latency, requests: map[string]int{}, verbs: map[string]int{}}
}

func (f *fault) matches(r *http.Request) bool {
	if f.Verb != "" && f.Verb != "*" && !strings.EqualFold(f.Verb, r.Method) {
		return false
	}
	if f.Client != "" && f.Client != map[bool]string{true: "bearer", false: "certificate"}[bearer(r) != ""] {
		return false
	}
	if f.Path == "" {
		return true
	}
	if strings.HasSuffix(f.Path, "/**") {
		return strings.HasPrefix(r.URL.Path+"/", strings.TrimSuffix(f.Path, "**"))
	}
	ok, _ := path.Match(f.Path, r.URL.Path)
	return ok
}

// take finds the first matching rule with uses left and uses it.
func take(list []*fault, r *http.Request) ([]*fault, *fault) {
	for i, f := range list {
		if f.matches(r) {
			if f.Skip > 0 {
				f.Skip--
				return list, nil
			}
			f.Count--
			if f.Count <= 0 {
				list = append(list[:i:i], list[i+1:]...)
			}
			return list, f
		}
	}
	return list, nil
}

// before counts r, waits the latency, and drops or fails it when told
// to; it reports whether r has been answered.
func (k *knobs) before(w http.ResponseWriter, r *http.Request, verb string) bool {
	k.mu.Lock()
	k.total++
	k.requests[r.Method+" "+r.URL.Path]++
	k.verbs[verb]++
	latency := k.latency
	var drop, fail *fault
	k.drops, drop = take(k.drops, r)
	if drop == nil {
		k.faults, fail = take(k.faults, r)
	}
	k.mu.Unlock()
	if latency > 0 {
		time.Sleep(latency)
	}
	if drop != nil {
		// net/http closes the connection without an answer.
		panic(http.ErrAbortHandler)
	}
	if fail == nil {
		return false
	}
	if len(fail.Body) > 0 {
		code := fail.Status
		if code == 0 {
			code = http.StatusOK
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write(fail.Body)
		return true
	}
	reasons := map[int]string{409: "Conflict", 422: "Invalid", 429: "TooManyRequests",
		500: "InternalError", 503: "ServiceUnavailable", 404: "NotFound", 403: "Forbidden"}
	reason := reasons[fail.Status]
	if reason == "" {
		reason = "Unknown"
	}
	msg := fail.Message
	if msg == "" {
		msg = "injected failure: " + http.StatusText(fail.Status)
	}
	e := errorf(fail.Status, reason, "%s", msg)
	if fail.Status == http.StatusTooManyRequests || fail.RetryAfter > 0 {
		ra := fail.RetryAfter
		if ra <= 0 {
			ra = 1
		}
		e.header = map[string]string{"Retry-After": strconv.Itoa(ra)}
		e.details = map[string]interface{}{"retryAfterSeconds": ra}
	}
	writeError(w, e)
	return true
}

func readRule(r *http.Request) (*fault, error) {
	f := &fault{Count: 1}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, f); err != nil {
		return nil, err
	}
	return f, nil
}

func (k *knobs) serveAdmin(w http.ResponseWriter, r *http.Request, s *store) {
	what := strings.TrimPrefix(r.URL.Path, adminPrefix)
	k.mu.Lock()
	defer k.mu.Unlock()
	bad := func(err error) {
		writeStatus(w, http.StatusBadRequest, "BadRequest", err.Error(), nil)
	}
	switch {
	case what == "requests" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]interface{}{
			"total": k.total, "requests": k.requests, "verbs": k.verbs})
	case what == "requests" && r.Method == http.MethodDelete:
		k.total, k.requests, k.verbs = 0, map[string]int{}, map[string]int{}
		writeJSON(w, http.StatusOK, map[string]interface{}{"total": 0})
	case (what == "faults" || what == "drops") && r.Method == http.MethodPost:
		f, err := readRule(r)
		if err != nil {
			bad(err)
			return
		}
		if what == "faults" {
			failure := f.Status >= 400 && f.Status <= 599
			whole := len(f.Body) > 0 && (f.Status == 0 || f.Status >= 200 && f.Status <= 599)
			if !failure && !whole {
				writeStatus(w, http.StatusBadRequest, "BadRequest", "status must be 400 to 599 (200 to 599 with a body)", nil)
				return
			}
			k.faults = append(k.faults, f)
		} else {
			k.drops = append(k.drops, f)
		}
		writeJSON(w, http.StatusOK, f)
	case (what == "faults" || what == "drops") && r.Method == http.MethodDelete:
		k.faults, k.drops = nil, nil
		writeJSON(w, http.StatusOK, map[string]interface{}{})
	case what == "latency" && r.Method == http.MethodPut:
		var v struct {
			MS int `json:"ms"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&v); err != nil || v.MS < 0 {
			writeStatus(w, http.StatusBadRequest, "BadRequest", "want {\"ms\": N}", nil)
			return
		}
		k.latency = time.Duration(v.MS) * time.Millisecond
		writeJSON(w, http.StatusOK, v)
	case what == "compact" && r.Method == http.MethodPost:
		s.mu.Lock()
		s.watchers.compact(s)
		rv := s.rv
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]interface{}{"resourceVersion": strconv.FormatUint(rv, 10)})
	default:
		writeStatus(w, http.StatusNotFound, "NotFound", "no such knob", nil)
	}
}
