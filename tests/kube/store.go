// The objects: routing of resource URLs, GET, LIST (label and field
// selectors, limit/continue paging, tables for kubectl get), DELETE with
// preconditions, propagation and finalizers, and the bookkeeping every
// write shares (resourceVersion, uid, generation, watch events). One lock
// guards all objects; GET, LIST and watch write to the client after
// releasing it (a write's answer is one object, written under it).
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/structured-merge-diff/fieldpath"
	"sigs.k8s.io/structured-merge-diff/merge"
)

type object struct {
	t    *resType
	data map[string]interface{} // the object, without managedFields
	// managers is keyed by managerKey(name, operation, subresource).
	managers fieldpath.ManagedFields
	times    map[string]string
}

type store struct {
	mu       sync.Mutex
	reg      *registry
	objects  map[string]map[string]*object // type key -> "ns/name"
	rv       uint64
	updater  merge.Updater
	nextIP   int
	watchers watchHub
	// created, when set, completes an object being created as the
	// simulated controllers' cluster would; under the lock, it must
	// not take it.
	created func(t *resType, obj map[string]interface{})
}

func newStore(swagger string) (*store, error) {
	reg, err := newRegistry(swagger)
	if err != nil {
		return nil, err
	}
	s := &store{reg: reg, objects: map[string]map[string]*object{}, nextIP: 10}
	s.updater = merge.Updater{Converter: identityConverter{}}
	s.watchers.init()
	nsType := reg.lookup("", "v1", "namespaces")
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		o := &object{t: nsType, managers: fieldpath.ManagedFields{}, times: map[string]string{},
			data: map[string]interface{}{"apiVersion": "v1", "kind": "Namespace",
				"metadata": map[string]interface{}{"name": ns,
					"labels": map[string]interface{}{"kubernetes.io/metadata.name": ns}},
				"spec":   map[string]interface{}{"finalizers": []interface{}{"kubernetes"}},
				"status": map[string]interface{}{"phase": "Active"}}}
		s.stamp(o, nil)
		s.put(o)
	}
	return s, nil
}

// target is what a resource URL names.
type target struct {
	t              *resType
	ns, name, sub  string
	group, version string
}

func (s *store) parsePath(p string) (*target, *apiError) {
	notFound := errorf(http.StatusNotFound, "NotFound", "the server could not find the requested resource")
	segs := strings.Split(strings.Trim(p, "/"), "/")
	tg := &target{}
	switch {
	case len(segs) >= 3 && segs[0] == "api":
		tg.version, segs = segs[1], segs[2:]
	case len(segs) >= 4 && segs[0] == "apis":
		tg.group, tg.version, segs = segs[1], segs[2], segs[3:]
	default:
		return nil, notFound
	}
	if len(segs) >= 3 && segs[0] == "namespaces" {
		if t := s.reg.lookup(tg.group, tg.version, segs[2]); t != nil && t.namespaced {
			tg.t, tg.ns, segs = t, segs[1], segs[2:]
		}
	}
	if tg.t == nil {
		tg.t = s.reg.lookup(tg.group, tg.version, segs[0])
	}
	if tg.t == nil || len(segs) > 3 {
		return nil, notFound
	}
	if len(segs) > 1 {
		tg.name = segs[1]
	}
	if len(segs) > 2 {
		tg.sub = segs[2]
		if tg.sub != "status" || !tg.t.hasStatus {
			return nil, notFound
		}
	}
	if tg.name != "" && tg.t.namespaced && tg.ns == "" {
		return nil, notFound
	}
	return tg, nil
}

// verbOf names a request the way the API server's audit does.
func verbOf(r *http.Request, tg *target) string {
	switch r.Method {
	case http.MethodGet:
		if w := r.URL.Query().Get("watch"); w == "1" || w == "true" {
			return "watch"
		}
		if tg.name == "" {
			return "list"
		}
		return "get"
	case http.MethodPatch:
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/apply-patch") {
			return "apply"
		}
		return "patch"
	case http.MethodPut:
		return "update"
	case http.MethodPost:
		return "create"
	case http.MethodDelete:
		if tg.name == "" {
			return "deletecollection"
		}
		return "delete"
	}
	return strings.ToLower(r.Method)
}

func (s *store) serveResource(w http.ResponseWriter, r *http.Request) {
	tg, e := s.parsePath(r.URL.Path)
	if e != nil {
		writeError(w, e)
		return
	}
	if strings.Contains(r.Header.Get("Content-Type"), "protobuf") {
		// Typed clients (kubectl create) send protobuf; without the
		// API's Go types the double cannot read it.
		writeError(w, errorf(http.StatusUnsupportedMediaType, "UnsupportedMediaType",
			"the double does not read application/vnd.kubernetes.protobuf: send JSON or YAML (kubectl apply)"))
		return
	}
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(r.Body, 8<<20))
	}
	switch verbOf(r, tg) {
	case "get":
		e = s.get(w, r, tg)
	case "list":
		e = s.list(w, r, tg)
	case "watch":
		e = s.watch(w, r, tg)
	case "apply":
		e = s.apply(w, r, tg, body)
	case "patch":
		e = s.patch(w, r, tg, body)
	case "update":
		e = s.update(w, r, tg, body)
	case "create":
		e = s.create(w, r, tg, body)
	case "delete":
		e = s.delete(w, r, tg, body)
	default:
		e = errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "the server does not allow this method on the requested resource")
	}
	if e != nil {
		writeError(w, e)
	}
}

// Objects are maps from encoding/json with integers kept as int64, the
// form structured-merge-diff's values take.
func decodeJSON(b []byte) (interface{}, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v interface{}
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return normalize(v), nil
}

func normalize(v interface{}) interface{} {
	switch v := v.(type) {
	case map[string]interface{}:
		for k, x := range v {
			v[k] = normalize(x)
		}
	case []interface{}:
		for i, x := range v {
			v[i] = normalize(x)
		}
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	}
	return v
}

func deepCopy(v interface{}) interface{} {
	switch v := v.(type) {
	case map[string]interface{}:
		m := make(map[string]interface{}, len(v))
		for k, x := range v {
			m[k] = deepCopy(x)
		}
		return m
	case []interface{}:
		l := make([]interface{}, len(v))
		for i, x := range v {
			l[i] = deepCopy(x)
		}
		return l
	}
	return v
}

func copyMap(m map[string]interface{}) map[string]interface{} {
	return deepCopy(m).(map[string]interface{})
}

func meta(obj map[string]interface{}) map[string]interface{} {
	m, ok := obj["metadata"].(map[string]interface{})
	if !ok {
		m = map[string]interface{}{}
		obj["metadata"] = m
	}
	return m
}

func str(m map[string]interface{}, k string) string {
	s, _ := m[k].(string)
	return s
}

func (s *store) key(t *resType) map[string]*object {
	m, ok := s.objects[t.key()]
	if !ok {
		m = map[string]*object{}
		s.objects[t.key()] = m
	}
	return m
}

func (s *store) find(t *resType, ns, name string) *object {
	return s.key(t)[ns+"/"+name]
}

func (s *store) put(o *object) {
	m := meta(o.data)
	s.key(o.t)[str(m, "namespace")+"/"+str(m, "name")] = o
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

// stamp gives o a new resourceVersion and, when it is new, what the API
// server sets on creation.
func (s *store) stamp(o *object, old *object) {
	s.rv++
	m := meta(o.data)
	if old == nil {
		m["uid"] = newUID()
		m["creationTimestamp"] = now()
		if o.t.hasStatus || o.t.crd != "" {
			m["generation"] = int64(1)
		}
	}
	m["resourceVersion"] = strconv.FormatUint(s.rv, 10)
}

func newUID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// render is the object as clients see it, managedFields included.
func (s *store) render(o *object) map[string]interface{} {
	out := copyMap(o.data)
	if mf := encodeManagers(o); len(mf) > 0 {
		meta(out)["managedFields"] = mf
	}
	return out
}

func notFoundError(tg *target, name string) *apiError {
	e := errorf(http.StatusNotFound, "NotFound", "%s %q not found", groupResource(tg.t), name)
	e.details = map[string]interface{}{"name": name, "group": tg.t.group, "kind": tg.t.plural}
	return e
}

func groupResource(t *resType) string {
	if t.group == "" {
		return t.plural
	}
	return t.plural + "." + t.group
}

func wantsTable(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "as=Table")
}

func (s *store) get(w http.ResponseWriter, r *http.Request, tg *target) *apiError {
	var resp interface{}
	s.mu.Lock()
	o := s.find(tg.t, tg.ns, tg.name)
	switch {
	case o == nil:
	case wantsTable(r):
		resp = s.table([]*object{o}, "")
	default:
		resp = s.render(o)
	}
	s.mu.Unlock()
	if resp == nil {
		return notFoundError(tg, tg.name)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// selection is a parsed labelSelector plus fieldSelector.
type requirement struct {
	key, op string
	values  []string
}

func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func parseSelector(sel string) ([]requirement, error) {
	var reqs []requirement
	if strings.TrimSpace(sel) == "" {
		return nil, nil
	}
	for _, part := range splitTop(sel) {
		part = strings.TrimSpace(part)
		var rq requirement
		switch {
		case part == "":
			return nil, fmt.Errorf("found '', expected: identifier")
		case strings.HasPrefix(part, "!"):
			rq = requirement{key: strings.TrimSpace(part[1:]), op: "!"}
		case strings.Contains(part, "!="):
			i := strings.Index(part, "!=")
			rq = requirement{key: part[:i], op: "!=", values: []string{part[i+2:]}}
		case strings.Contains(part, "=="):
			i := strings.Index(part, "==")
			rq = requirement{key: part[:i], op: "=", values: []string{part[i+2:]}}
		case strings.Contains(part, "="):
			i := strings.Index(part, "=")
			rq = requirement{key: part[:i], op: "=", values: []string{part[i+1:]}}
		case strings.Contains(part, " in ") || strings.Contains(part, " notin "):
			op := " in "
			if strings.Contains(part, " notin ") {
				op = " notin "
			}
			i := strings.Index(part, op)
			set := strings.TrimSpace(part[i+len(op):])
			if !strings.HasPrefix(set, "(") || !strings.HasSuffix(set, ")") {
				return nil, fmt.Errorf("found '%s', expected: '('", set)
			}
			rq = requirement{key: part[:i], op: strings.TrimSpace(op)}
			for _, v := range strings.Split(set[1:len(set)-1], ",") {
				rq.values = append(rq.values, strings.TrimSpace(v))
			}
		default:
			rq = requirement{key: part, op: "exists"}
		}
		rq.key = strings.TrimSpace(rq.key)
		for i := range rq.values {
			rq.values[i] = strings.TrimSpace(rq.values[i])
		}
		if rq.key == "" || strings.ContainsAny(rq.key, " ()") {
			return nil, fmt.Errorf("invalid label key %q", rq.key)
		}
		reqs = append(reqs, rq)
	}
	return reqs, nil
}

func (rq requirement) matches(m map[string]string) bool {
	v, ok := m[rq.key]
	in := func() bool {
		for _, x := range rq.values {
			if x == v {
				return true
			}
		}
		return false
	}
	switch rq.op {
	case "exists":
		return ok
	case "!":
		return !ok
	case "=", "in":
		return ok && in()
	case "!=", "notin":
		return !ok || !in()
	}
	return false
}

type selection struct {
	labels []requirement
	fields []requirement
}

func parseSelection(r *http.Request) (*selection, *apiError) {
	q := r.URL.Query()
	labels, err := parseSelector(q.Get("labelSelector"))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "BadRequest", "unable to parse requirement: %v", err)
	}
	fields, err := parseSelector(q.Get("fieldSelector"))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "BadRequest", "invalid field selector: %v", err)
	}
	for _, f := range fields {
		if (f.op != "=" && f.op != "!=") || (f.key != "metadata.name" && f.key != "metadata.namespace") {
			return nil, errorf(http.StatusBadRequest, "BadRequest", "field label not supported: %s", f.key)
		}
	}
	return &selection{labels: labels, fields: fields}, nil
}

func (sel *selection) matches(obj map[string]interface{}) bool {
	m := meta(obj)
	labels := map[string]string{}
	if l, ok := m["labels"].(map[string]interface{}); ok {
		for k, v := range l {
			labels[k], _ = v.(string)
		}
	}
	for _, rq := range sel.labels {
		if !rq.matches(labels) {
			return false
		}
	}
	fields := map[string]string{"metadata.name": str(m, "name"), "metadata.namespace": str(m, "namespace")}
	for _, rq := range sel.fields {
		if !rq.matches(fields) {
			return false
		}
	}
	return true
}

// selected lists the objects of tg (in its namespace, if any) that sel
// matches, sorted by namespace and name.
func (s *store) selected(tg *target, sel *selection) ([]string, []*object) {
	var keys []string
	for k, o := range s.key(tg.t) {
		if tg.ns != "" && str(meta(o.data), "namespace") != tg.ns {
			continue
		}
		if sel.matches(o.data) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	objs := make([]*object, len(keys))
	for i, k := range keys {
		objs[i] = s.key(tg.t)[k]
	}
	return keys, objs
}

func (s *store) list(w http.ResponseWriter, r *http.Request, tg *target) *apiError {
	sel, e := parseSelection(r)
	if e != nil {
		return e
	}
	q := r.URL.Query()
	limit := 0
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, "BadRequest", "invalid limit %q", l)
		}
		limit = n
	}
	start := ""
	if c := q.Get("continue"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil {
			return errorf(http.StatusBadRequest, "BadRequest", "invalid continue token")
		}
		start = string(b)
	}
	resp := s.listResponse(r, tg, sel, start, limit)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// listResponse is one page of a LIST, made under the lock and written
// after it, so that a slow reader never holds the store.
func (s *store) listResponse(r *http.Request, tg *target, sel *selection, start string, limit int) map[string]interface{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys, objs := s.selected(tg, sel)
	i := sort.SearchStrings(keys, start)
	if start != "" && i < len(keys) && keys[i] == start {
		i++
	}
	keys, objs = keys[i:], objs[i:]
	listMeta := map[string]interface{}{"resourceVersion": strconv.FormatUint(s.rv, 10)}
	if limit > 0 && len(objs) > limit {
		listMeta["continue"] = base64.RawURLEncoding.EncodeToString([]byte(keys[limit-1]))
		listMeta["remainingItemCount"] = len(objs) - limit
		objs = objs[:limit]
	}
	if wantsTable(r) {
		return s.table(objs, str(listMeta, "continue"))
	}
	items := make([]interface{}, len(objs))
	for i, o := range objs {
		items[i] = s.render(o)
	}
	return map[string]interface{}{
		"kind": tg.t.kind + "List", "apiVersion": tg.t.gv(), "metadata": listMeta, "items": items,
	}
}

// table is the meta.k8s.io/v1 Table kubectl get asks for: name and age.
func (s *store) table(objs []*object, cont string) map[string]interface{} {
	rows := []interface{}{}
	for _, o := range objs {
		m := meta(o.data)
		age := "<unknown>"
		if t, err := time.Parse(time.RFC3339, str(m, "creationTimestamp")); err == nil {
			age = time.Since(t).Round(time.Second).String()
		}
		pm := copyMap(m)
		rows = append(rows, map[string]interface{}{
			"cells": []interface{}{str(m, "name"), age},
			"object": map[string]interface{}{"kind": "PartialObjectMetadata",
				"apiVersion": "meta.k8s.io/v1", "metadata": pm},
		})
	}
	col := func(n, f string) interface{} {
		return map[string]interface{}{"name": n, "type": "string", "format": f, "description": n, "priority": 0}
	}
	return map[string]interface{}{
		"kind": "Table", "apiVersion": "meta.k8s.io/v1",
		"metadata":          map[string]interface{}{"resourceVersion": strconv.FormatUint(s.rv, 10), "continue": cont},
		"columnDefinitions": []interface{}{col("Name", "name"), col("Age", "")},
		"rows":              rows,
	}
}

func dryRun(r *http.Request) (bool, *apiError) {
	switch d := r.URL.Query()["dryRun"]; {
	case len(d) == 0:
		return false, nil
	case len(d) == 1 && d[0] == "All":
		return true, nil
	default:
		return false, errorf(http.StatusBadRequest, "BadRequest", "dryRun: Unsupported value: %q: supported values: \"All\"", d[0])
	}
}

func (s *store) delete(w http.ResponseWriter, r *http.Request, tg *target, body []byte) *apiError {
	dry, e := dryRun(r)
	if e != nil {
		return e
	}
	opts := map[string]interface{}{}
	if len(bytes.TrimSpace(body)) > 0 {
		v, err := decodeJSON(body)
		m, ok := v.(map[string]interface{})
		if err != nil || !ok {
			return errorf(http.StatusBadRequest, "BadRequest", "cannot decode DeleteOptions")
		}
		opts = m
	}
	policy := str(opts, "propagationPolicy")
	if p := r.URL.Query().Get("propagationPolicy"); p != "" {
		policy = p
	}
	switch policy {
	case "", "Background", "Foreground", "Orphan":
	default:
		return errorf(http.StatusBadRequest, "BadRequest", "propagationPolicy: Unsupported value: %q", policy)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.find(tg.t, tg.ns, tg.name)
	if o == nil {
		return notFoundError(tg, tg.name)
	}
	m := meta(o.data)
	if pre, ok := opts["preconditions"].(map[string]interface{}); ok {
		if uid := str(pre, "uid"); uid != "" && uid != str(m, "uid") {
			return errorf(http.StatusConflict, "Conflict", "Operation cannot be fulfilled on %s %q: Precondition failed: UID in precondition: %s, UID in object meta: %s",
				groupResource(tg.t), tg.name, uid, str(m, "uid"))
		}
		if rv := str(pre, "resourceVersion"); rv != "" && rv != str(m, "resourceVersion") {
			return errorf(http.StatusConflict, "Conflict", "Operation cannot be fulfilled on %s %q: Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s",
				groupResource(tg.t), tg.name, rv, str(m, "resourceVersion"))
		}
	}
	if dry {
		writeJSON(w, http.StatusOK, s.render(o))
		return nil
	}
	if gone := s.remove(o, policy); !gone {
		writeJSON(w, http.StatusOK, s.render(o))
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]interface{}{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]interface{}{},
		"status": "Success", "details": map[string]interface{}{
			"name": tg.name, "group": tg.t.group, "kind": tg.t.plural, "uid": str(m, "uid")},
	})
	return nil
}

func finalizers(o *object) []interface{} {
	f, _ := meta(o.data)["finalizers"].([]interface{})
	return f
}

// remove deletes o, or marks it with a deletionTimestamp while it has
// finalizers; it reports whether o is gone. What o owns (ownerReferences)
// or contains (a namespace's objects, a CRD's resources) goes with it,
// unless the policy is Orphan.
func (s *store) remove(o *object, policy string) bool {
	m := meta(o.data)
	uid := str(m, "uid")
	if policy != "Orphan" {
		for _, d := range s.dependents(o) {
			s.remove(d, policy)
		}
	} else {
		s.orphan(uid)
	}
	if len(finalizers(o)) > 0 || s.terminating(o) {
		if _, ok := m["deletionTimestamp"]; !ok {
			m["deletionTimestamp"] = now()
			m["deletionGracePeriodSeconds"] = int64(0)
			if o.t.kind == "Namespace" {
				o.data["status"] = map[string]interface{}{"phase": "Terminating"}
			}
			s.stamp(o, o)
			s.watchers.send(s, "MODIFIED", o)
		}
		return false
	}
	delete(s.key(o.t), str(m, "namespace")+"/"+str(m, "name"))
	s.rv++
	m["resourceVersion"] = strconv.FormatUint(s.rv, 10)
	s.watchers.send(s, "DELETED", o)
	if o.t.kind == "CustomResourceDefinition" && o.t.group == "apiextensions.k8s.io" {
		s.reg.mu.Lock()
		s.reg.remove(str(m, "name"))
		s.reg.mu.Unlock()
	}
	if ns := str(m, "namespace"); ns != "" {
		if nso := s.find(s.reg.lookup("", "v1", "namespaces"), "", ns); nso != nil {
			if _, ok := meta(nso.data)["deletionTimestamp"]; ok {
				s.remove(nso, "Background")
			}
		}
	}
	return true
}

// terminating: a namespace stays until its objects are gone.
func (s *store) terminating(o *object) bool {
	if o.t.kind != "Namespace" || o.t.group != "" {
		return false
	}
	name := str(meta(o.data), "name")
	for _, objs := range s.objects {
		for _, x := range objs {
			if x.t.namespaced && str(meta(x.data), "namespace") == name {
				return true
			}
		}
	}
	return false
}

func (s *store) dependents(o *object) []*object {
	m := meta(o.data)
	uid := str(m, "uid")
	var out []*object
	for _, objs := range s.objects {
		for _, x := range objs {
			xm := meta(x.data)
			if _, ok := xm["deletionTimestamp"]; ok {
				continue
			}
			switch {
			case o.t.kind == "Namespace" && o.t.group == "" && x.t.namespaced && str(xm, "namespace") == str(m, "name"):
			case o.t.kind == "CustomResourceDefinition" && x.t.crd == str(m, "name"):
			case ownedBy(x, uid):
			default:
				continue
			}
			out = append(out, x)
		}
	}
	return out
}

func ownedBy(x *object, uid string) bool {
	refs, _ := meta(x.data)["ownerReferences"].([]interface{})
	for _, r := range refs {
		if rm, ok := r.(map[string]interface{}); ok && str(rm, "uid") == uid {
			return true
		}
	}
	return false
}

func (s *store) orphan(uid string) {
	for _, objs := range s.objects {
		for _, x := range objs {
			if !ownedBy(x, uid) {
				continue
			}
			xm := meta(x.data)
			var kept []interface{}
			for _, r := range xm["ownerReferences"].([]interface{}) {
				if rm, ok := r.(map[string]interface{}); !ok || str(rm, "uid") != uid {
					kept = append(kept, r)
				}
			}
			if len(kept) == 0 {
				delete(xm, "ownerReferences")
			} else {
				xm["ownerReferences"] = kept
			}
			s.stamp(x, x)
			s.watchers.send(s, "MODIFIED", x)
		}
	}
}

func sameData(a, b map[string]interface{}) bool { return reflect.DeepEqual(a, b) }
