// Writes: server-side apply (PATCH application/apply-patch+yaml), merge
// patches, PUT, POST and the status subresource. Field ownership,
// conflicts and the removal of fields an applier dropped are decided by
// structured-merge-diff's Updater, as in the real API server; this file
// adds what the server does around it: managedFields in their wire form,
// server-owned metadata, defaults, immutable fields, CRDs registering
// kinds. Runs under the store's lock.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"sigs.k8s.io/structured-merge-diff/fieldpath"
	"sigs.k8s.io/structured-merge-diff/merge"
	"sigs.k8s.io/structured-merge-diff/typed"
	yaml "sigs.k8s.io/yaml"
)

type identityConverter struct{}

func (identityConverter) Convert(o *typed.TypedValue, _ fieldpath.APIVersion) (*typed.TypedValue, error) {
	return o, nil
}

func (identityConverter) IsMissingVersionError(error) bool { return false }

// A manager is kept under its name, operation and subresource, as the
// API server keeps one managedFields entry for each.
func managerKey(name, op, sub string) string { return name + "\x00" + op + "\x00" + sub }

func splitManagerKey(k string) (name, op, sub string) {
	p := strings.SplitN(k, "\x00", 3)
	for len(p) < 3 {
		p = append(p, "")
	}
	return p[0], p[1], p[2]
}

// Fields the API server never lets a manager own.
var unowned = func() *fieldpath.Set {
	s := fieldpath.NewSet()
	for _, p := range [][]interface{}{{"apiVersion"}, {"kind"}, {"metadata", "name"},
		{"metadata", "namespace"}, {"metadata", "creationTimestamp"}, {"metadata", "uid"},
		{"metadata", "resourceVersion"}, {"metadata", "generation"}, {"metadata", "managedFields"},
		{"metadata", "selfLink"}, {"metadata", "deletionTimestamp"}, {"metadata", "deletionGracePeriodSeconds"}} {
		s.Insert(fieldpath.MakePathOrDie(p...))
	}
	return s
}()

var serverMeta = []string{"uid", "resourceVersion", "creationTimestamp", "generation",
	"selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"}

func encodeManagers(o *object) []interface{} {
	keys := make([]string, 0, len(o.managers))
	for k := range o.managers {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if o.times[keys[i]] != o.times[keys[j]] {
			return o.times[keys[i]] < o.times[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var out []interface{}
	for _, k := range keys {
		vs := o.managers[k]
		b, err := vs.Set().ToJSON()
		if err != nil {
			continue
		}
		fields, _ := decodeJSON(b)
		name, op, sub := splitManagerKey(k)
		e := map[string]interface{}{"manager": name, "operation": op,
			"apiVersion": string(vs.APIVersion()), "time": o.times[k],
			"fieldsType": "FieldsV1", "fieldsV1": fields}
		if sub != "" {
			e["subresource"] = sub
		}
		out = append(out, e)
	}
	return out
}

func decodeManagers(list []interface{}) (fieldpath.ManagedFields, map[string]string, error) {
	mf, times := fieldpath.ManagedFields{}, map[string]string{}
	for _, x := range list {
		e, ok := x.(map[string]interface{})
		if !ok {
			return nil, nil, fmt.Errorf("managedFields: an entry is not an object")
		}
		b, _ := json.Marshal(e["fieldsV1"])
		set := &fieldpath.Set{}
		if err := set.FromJSON(bytes.NewReader(b)); err != nil {
			return nil, nil, fmt.Errorf("managedFields: %v", err)
		}
		k := managerKey(str(e, "manager"), str(e, "operation"), str(e, "subresource"))
		mf[k] = fieldpath.NewVersionedSet(set, fieldpath.APIVersion(str(e, "apiVersion")), str(e, "operation") == "Apply")
		times[k] = str(e, "time")
	}
	return mf, times, nil
}

func copyManagers(mf fieldpath.ManagedFields) fieldpath.ManagedFields {
	if mf == nil {
		return fieldpath.ManagedFields{}
	}
	return mf.Copy()
}

func conflictError(t *resType, name string, cs merge.Conflicts) *apiError {
	var causes []interface{}
	var msgs []string
	for _, c := range cs {
		mgr, op, _ := splitManagerKey(c.Manager)
		who := fmt.Sprintf("conflict with %q", mgr)
		if op == "Update" {
			who += " using " + t.gv()
		}
		causes = append(causes, map[string]interface{}{
			"reason": "FieldManagerConflict", "message": who, "field": c.Path.String()})
		msgs = append(msgs, who+": "+c.Path.String())
	}
	plural := "conflict"
	if len(cs) > 1 {
		plural = "conflicts"
	}
	e := errorf(http.StatusConflict, "Conflict", "Apply failed with %d %s: %s", len(cs), plural, strings.Join(msgs, "\n"))
	e.details = map[string]interface{}{"name": name, "group": t.group, "kind": t.plural, "causes": causes}
	return e
}

func invalidError(t *resType, name string, causes []map[string]interface{}) *apiError {
	var msgs []string
	var list []interface{}
	for _, c := range causes {
		msgs = append(msgs, str(c, "field")+": "+str(c, "message"))
		list = append(list, c)
	}
	e := errorf(http.StatusUnprocessableEntity, "Invalid", "%s %q is invalid: %s", t.kind, name, strings.Join(msgs, ", "))
	e.details = map[string]interface{}{"name": name, "group": t.group, "kind": t.kind, "causes": list}
	return e
}

// decodeObject reads a request body (YAML or JSON) into an object and
// checks it names the kind and object of the URL.
func decodeObject(tg *target, body []byte, yamlOK bool) (map[string]interface{}, *apiError) {
	if yamlOK {
		j, err := yaml.YAMLToJSON(body)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "BadRequest", "error decoding YAML: %v", err)
		}
		body = j
	}
	v, err := decodeJSON(body)
	obj, ok := v.(map[string]interface{})
	if err != nil || !ok {
		return nil, errorf(http.StatusBadRequest, "BadRequest", "the body of the request was in an unknown format")
	}
	if av := str(obj, "apiVersion"); av != tg.t.gv() {
		return nil, errorf(http.StatusBadRequest, "BadRequest", "the API version in the data (%s) does not match the expected API version (%s)", av, tg.t.gv())
	}
	if k := str(obj, "kind"); k != tg.t.kind {
		return nil, errorf(http.StatusBadRequest, "BadRequest", "the kind in the data (%s) does not match the expected kind (%s)", k, tg.t.kind)
	}
	m := meta(obj)
	if n := str(m, "name"); tg.name != "" && n != "" && n != tg.name {
		return nil, errorf(http.StatusBadRequest, "BadRequest", "the name of the object (%s) does not match the name on the URL (%s)", n, tg.name)
	}
	if tg.name != "" {
		m["name"] = tg.name
	}
	if tg.t.namespaced {
		if ns := str(m, "namespace"); ns != "" && ns != tg.ns {
			return nil, errorf(http.StatusBadRequest, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
		}
		m["namespace"] = tg.ns
	} else {
		delete(m, "namespace")
	}
	return obj, nil
}

// validateFields applies fieldValidation: Strict refuses unknown fields,
// Warn (the default) reports them in Warning headers.
func (s *store) validateFields(w http.ResponseWriter, r *http.Request, tg *target, obj map[string]interface{}) *apiError {
	mode := r.URL.Query().Get("fieldValidation")
	switch mode {
	case "", "Warn", "Strict", "Ignore":
	default:
		return errorf(http.StatusBadRequest, "BadRequest", "fieldValidation: Unsupported value: %q", mode)
	}
	if mode == "Ignore" {
		return nil
	}
	unknown := s.reg.unknownFields(tg.t, obj)
	if len(unknown) == 0 {
		return nil
	}
	if mode == "Strict" {
		var q []string
		for _, u := range unknown {
			q = append(q, fmt.Sprintf("unknown field %q", u))
		}
		return errorf(http.StatusBadRequest, "BadRequest", "%s in version %q cannot be handled as a %s: strict decoding error: %s",
			tg.t.kind, tg.t.gv(), tg.t.kind, strings.Join(q, ", "))
	}
	for _, u := range unknown {
		w.Header().Add("Warning", fmt.Sprintf("299 - \"unknown field %q\"", u))
	}
	return nil
}

func (s *store) typed(t *resType, obj map[string]interface{}) (*typed.TypedValue, *apiError) {
	v := copyMap(obj)
	delete(meta(v), "managedFields")
	pt := t.pt
	if t.model == "" {
		pt = typed.DeducedParseableType
	}
	tv, err := pt.FromUnstructured(v)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "BadRequest", "%s %q: %v", t.kind, str(meta(obj), "name"), err)
	}
	return tv, nil
}

func untyped(tv *typed.TypedValue) map[string]interface{} {
	m, _ := deepCopy(tv.AsValue().Unstructured()).(map[string]interface{})
	if m == nil {
		m = map[string]interface{}{}
	}
	return m
}

func (s *store) apply(w http.ResponseWriter, r *http.Request, tg *target, body []byte) *apiError {
	if tg.name == "" {
		return errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "apply needs an object name")
	}
	q := r.URL.Query()
	mgr := q.Get("fieldManager")
	if mgr == "" {
		return invalidError(tg.t, tg.name, []map[string]interface{}{{"reason": "FieldValueRequired",
			"message": "Required value: is required for apply patch", "field": "fieldManager"}})
	}
	force := q.Get("force") == "true"
	dry, e := dryRun(r)
	if e != nil {
		return e
	}
	cfg, e := decodeObject(tg, body, true)
	if e != nil {
		return e
	}
	m := meta(cfg)
	if _, ok := m["managedFields"]; ok {
		return errorf(http.StatusBadRequest, "BadRequest", "metadata.managedFields must be nil")
	}
	if e := s.validateFields(w, r, tg, cfg); e != nil {
		return e
	}
	precondRV := str(m, "resourceVersion")
	for _, k := range serverMeta {
		delete(m, k)
	}
	if tg.sub == "status" {
		cfg = map[string]interface{}{"apiVersion": cfg["apiVersion"], "kind": cfg["kind"],
			"metadata": map[string]interface{}{"name": m["name"], "namespace": m["namespace"]},
			"status":   cfg["status"]}
		if cfg["status"] == nil {
			delete(cfg, "status")
		}
	} else if tg.t.hasStatus {
		delete(cfg, "status")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	live := s.find(tg.t, tg.ns, tg.name)
	if live == nil && tg.sub != "" {
		return notFoundError(tg, tg.name)
	}
	if live != nil && precondRV != "" && precondRV != str(meta(live.data), "resourceVersion") {
		return modifiedError(tg)
	}
	var liveObj map[string]interface{}
	managers := fieldpath.ManagedFields{}
	if live != nil {
		liveObj = copyMap(live.data)
		managers = copyManagers(live.managers)
	} else {
		if e := s.namespaceExists(tg); e != nil {
			return e
		}
		liveObj = map[string]interface{}{}
	}
	liveTV, e := s.typed(tg.t, liveObj)
	if e != nil {
		return e
	}
	cfgTV, e := s.typed(tg.t, cfg)
	if e != nil {
		return e
	}
	key := managerKey(mgr, "Apply", tg.sub)
	newTV, managers, err := s.updater.Apply(liveTV, cfgTV, fieldpath.APIVersion(tg.t.gv()), managers, key, force)
	if err != nil {
		var cs merge.Conflicts
		if errors.As(err, &cs) {
			return conflictError(tg.t, tg.name, cs)
		}
		return errorf(http.StatusInternalServerError, "InternalError", "%v", err)
	}
	merged := liveObj
	if newTV != nil {
		merged = untyped(newTV)
	}
	return s.commit(w, tg, live, merged, managers, key, dry)
}

func modifiedError(tg *target) *apiError {
	return errorf(http.StatusConflict, "Conflict", "Operation cannot be fulfilled on %s %q: the object has been modified; please apply your changes to the latest version and try again",
		groupResource(tg.t), tg.name)
}

func (s *store) namespaceExists(tg *target) *apiError {
	if !tg.t.namespaced {
		return nil
	}
	if s.find(s.reg.lookup("", "v1", "namespaces"), "", tg.ns) == nil {
		e := errorf(http.StatusNotFound, "NotFound", "namespaces %q not found", tg.ns)
		e.details = map[string]interface{}{"name": tg.ns, "kind": "namespaces"}
		return e
	}
	return nil
}

// commit finishes every write: the server's metadata, defaults, immutable
// fields, generation, then stores the object (unless dry) and answers.
func (s *store) commit(w http.ResponseWriter, tg *target, live *object, merged map[string]interface{},
	managers fieldpath.ManagedFields, key string, dry bool) *apiError {
	m := meta(merged)
	for k := range managers {
		vs := managers[k]
		set := vs.Set().Difference(unowned)
		if set.Empty() {
			delete(managers, k)
			continue
		}
		managers[k] = fieldpath.NewVersionedSet(set, vs.APIVersion(), vs.Applied())
	}
	merged["apiVersion"], merged["kind"] = tg.t.gv(), tg.t.kind
	m["name"] = tg.name
	if tg.t.namespaced {
		m["namespace"] = tg.ns
	}
	for _, k := range serverMeta {
		delete(m, k)
	}
	if live != nil {
		lm := meta(live.data)
		for _, k := range serverMeta {
			if v, ok := lm[k]; ok {
				m[k] = deepCopy(v)
			}
		}
		if tg.sub == "status" {
			// The status subresource changes status only.
			st := merged["status"]
			merged = copyMap(live.data)
			m = meta(merged)
			if st == nil {
				delete(merged, "status")
			} else {
				merged["status"] = st
			}
		} else if tg.t.hasStatus {
			if st, ok := live.data["status"]; ok {
				merged["status"] = deepCopy(st)
			} else {
				delete(merged, "status")
			}
		}
	}
	s.defaults(tg.t, merged)
	if live == nil && s.created != nil {
		s.created(tg.t, merged)
	}
	if live != nil {
		if causes := immutable(tg.t, live.data, merged); len(causes) > 0 {
			return invalidError(tg.t, tg.name, causes)
		}
	}
	if tg.t.kind == "CustomResourceDefinition" && tg.t.group == "apiextensions.k8s.io" {
		if e := crdAccept(tg, merged); e != nil {
			return e
		}
	}
	if live != nil && sameData(live.data, merged) && live.managers.Equals(managers) {
		writeJSON(w, http.StatusOK, s.render(live))
		return nil
	}
	o := &object{t: tg.t, data: merged, managers: managers, times: map[string]string{}}
	if live != nil {
		for k, v := range live.times {
			if _, ok := managers[k]; ok {
				o.times[k] = v
			}
		}
		if g, ok := m["generation"].(int64); ok && specChanged(live.data, merged) {
			m["generation"] = g + 1
		}
	}
	if _, ok := managers[key]; ok {
		o.times[key] = now()
	}
	if dry {
		if live == nil {
			m["uid"] = newUID()
			m["creationTimestamp"] = now()
		}
		code := http.StatusOK
		if live == nil {
			code = http.StatusCreated
		}
		writeJSON(w, code, s.render(o))
		return nil
	}
	s.stamp(o, live)
	s.put(o)
	if live == nil {
		s.watchers.send(s, "ADDED", o)
	} else {
		s.watchers.send(s, "MODIFIED", o)
	}
	if o.t.kind == "CustomResourceDefinition" && o.t.group == "apiextensions.k8s.io" {
		s.registerCRD(o)
	}
	rendered := s.render(o)
	if _, deleting := m["deletionTimestamp"]; deleting && len(finalizers(o)) == 0 {
		s.remove(o, "Background")
	}
	code := http.StatusOK
	if live == nil {
		code = http.StatusCreated
	}
	writeJSON(w, code, rendered)
	return nil
}

func specChanged(a, b map[string]interface{}) bool {
	for _, k := range []string{"metadata", "status"} {
		a, b = shallowWithout(a, k), shallowWithout(b, k)
	}
	return !sameData(a, b)
}

func shallowWithout(m map[string]interface{}, k string) map[string]interface{} {
	out := make(map[string]interface{}, len(m))
	for x, v := range m {
		if x != k {
			out[x] = v
		}
	}
	return out
}

func field(obj map[string]interface{}, path ...string) (interface{}, bool) {
	var cur interface{} = obj
	for _, p := range path {
		m, ok := cur.(map[string]interface{})
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// defaults fills what the API server would: a Service's cluster IP and
// type, a Deployment's replicas. They belong to no manager, like the
// real server's defaults, and are never drift.
func (s *store) defaults(t *resType, obj map[string]interface{}) {
	spec, _ := obj["spec"].(map[string]interface{})
	if spec == nil {
		return
	}
	switch {
	case t.group == "" && t.kind == "Service":
		if _, ok := spec["type"]; !ok {
			spec["type"] = "ClusterIP"
		}
		if _, ok := spec["clusterIP"]; !ok && spec["type"] != "ExternalName" {
			s.nextIP++
			ip := fmt.Sprintf("10.96.%d.%d", s.nextIP/250, s.nextIP%250+1)
			spec["clusterIP"] = ip
			spec["clusterIPs"] = []interface{}{ip}
		}
		if _, ok := spec["sessionAffinity"]; !ok {
			spec["sessionAffinity"] = "None"
		}
	case t.group == "apps" && t.kind == "Deployment":
		if _, ok := spec["replicas"]; !ok {
			spec["replicas"] = int64(1)
		}
		if _, ok := spec["revisionHistoryLimit"]; !ok {
			spec["revisionHistoryLimit"] = int64(10)
		}
	}
}

var immutableFields = []struct {
	group, kind string
	path        []string
}{
	{"", "Service", []string{"spec", "clusterIP"}},
	{"batch", "Job", []string{"spec", "template"}},
	{"batch", "Job", []string{"spec", "selector"}},
	{"apps", "Deployment", []string{"spec", "selector"}},
	{"apps", "ReplicaSet", []string{"spec", "selector"}},
	{"apps", "DaemonSet", []string{"spec", "selector"}},
	{"apps", "StatefulSet", []string{"spec", "selector"}},
	{"apps", "StatefulSet", []string{"spec", "serviceName"}},
	{"", "PersistentVolumeClaim", []string{"spec", "storageClassName"}},
	{"rbac.authorization.k8s.io", "RoleBinding", []string{"roleRef"}},
	{"rbac.authorization.k8s.io", "ClusterRoleBinding", []string{"roleRef"}},
}

func immutable(t *resType, old, cur map[string]interface{}) []map[string]interface{} {
	var causes []map[string]interface{}
	for _, f := range immutableFields {
		if f.group != t.group || f.kind != t.kind {
			continue
		}
		ov, had := field(old, f.path...)
		nv, _ := field(cur, f.path...)
		if had && !sameValue(ov, nv) {
			b, _ := json.Marshal(nv)
			causes = append(causes, map[string]interface{}{"reason": "FieldValueInvalid",
				"message": fmt.Sprintf("Invalid value: %s: field is immutable", b),
				"field":   strings.Join(f.path, ".")})
		}
	}
	if t.group == "" && (t.kind == "ConfigMap" || t.kind == "Secret") && old["immutable"] == true {
		for _, k := range []string{"data", "binaryData", "stringData"} {
			if !sameValue(old[k], cur[k]) {
				causes = append(causes, map[string]interface{}{"reason": "FieldValueForbidden",
					"message": "Forbidden: field is immutable when `immutable` is set", "field": k})
			}
		}
	}
	return causes
}

func sameValue(a, b interface{}) bool {
	return sameData(map[string]interface{}{"v": a}, map[string]interface{}{"v": b})
}

// mergePatch is RFC 7386's JSON merge patch. Strategic merge patches are
// taken as merge patches (lists are replaced whole).
func mergePatch(target interface{}, patch interface{}) interface{} {
	p, ok := patch.(map[string]interface{})
	if !ok {
		return deepCopy(patch)
	}
	t, ok := target.(map[string]interface{})
	if !ok {
		t = map[string]interface{}{}
	}
	for k, v := range p {
		if strings.HasPrefix(k, "$") {
			continue
		}
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

func (s *store) patch(w http.ResponseWriter, r *http.Request, tg *target, body []byte) *apiError {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/merge-patch+json") && !strings.HasPrefix(ct, "application/strategic-merge-patch+json") &&
		!strings.HasPrefix(ct, "application/json-patch+json") {
		return errorf(http.StatusUnsupportedMediaType, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
	}
	p, err := decodeJSON(body)
	if err != nil {
		return errorf(http.StatusBadRequest, "BadRequest", "cannot decode patch: %v", err)
	}
	return s.change(w, r, tg, func(live map[string]interface{}) (map[string]interface{}, *apiError) {
		if strings.HasPrefix(ct, "application/json-patch+json") {
			return jsonPatch(live, p)
		}
		out, _ := mergePatch(live, p).(map[string]interface{})
		return out, nil
	})
}

func (s *store) update(w http.ResponseWriter, r *http.Request, tg *target, body []byte) *apiError {
	obj, e := decodeObject(tg, body, false)
	if e != nil {
		return e
	}
	if e := s.validateFields(w, r, tg, obj); e != nil {
		return e
	}
	return s.change(w, r, tg, func(live map[string]interface{}) (map[string]interface{}, *apiError) {
		if rv := str(meta(obj), "resourceVersion"); rv != "" && rv != str(meta(live), "resourceVersion") {
			return nil, modifiedError(tg)
		}
		return copyMap(obj), nil
	})
}

// change runs an update of a live object (merge patch, JSON patch, PUT):
// the new object's fields changed from live are given to the manager.
// managedFields in the new object replace the recorded ones, as on the
// real server (an empty list clears them).
func (s *store) change(w http.ResponseWriter, r *http.Request, tg *target,
	edit func(map[string]interface{}) (map[string]interface{}, *apiError)) *apiError {
	if tg.name == "" {
		return errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "the server does not allow this method on the requested resource")
	}
	dry, e := dryRun(r)
	if e != nil {
		return e
	}
	mgr := r.URL.Query().Get("fieldManager")
	if mgr == "" {
		mgr = userAgentManager(r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	live := s.find(tg.t, tg.ns, tg.name)
	if live == nil {
		return notFoundError(tg, tg.name)
	}
	liveObj := s.render(live)
	newObj, e := edit(copyMap(liveObj))
	if e != nil {
		return e
	}
	if newObj == nil {
		return errorf(http.StatusBadRequest, "BadRequest", "the patch does not leave an object")
	}
	managers := copyManagers(live.managers)
	if mf, ok := meta(newObj)["managedFields"]; ok && !sameValue(mf, meta(liveObj)["managedFields"]) {
		list, _ := mf.([]interface{})
		dm, _, err := decodeManagers(list)
		if err != nil {
			return errorf(http.StatusBadRequest, "BadRequest", "%v", err)
		}
		managers = dm
	}
	delete(meta(newObj), "managedFields")
	delete(meta(liveObj), "managedFields")
	liveTV, e := s.typed(tg.t, liveObj)
	if e != nil {
		return e
	}
	newTV, e := s.typed(tg.t, newObj)
	if e != nil {
		return e
	}
	key := managerKey(mgr, "Update", tg.sub)
	merged, managers, err := s.updater.Update(liveTV, newTV, fieldpath.APIVersion(tg.t.gv()), managers, key)
	if err != nil {
		return errorf(http.StatusInternalServerError, "InternalError", "%v", err)
	}
	return s.commit(w, tg, live, untyped(merged), managers, key, dry)
}

// userAgentManager is the API server's default field manager: the user
// agent's first word.
func userAgentManager(r *http.Request) string {
	ua := r.Header.Get("User-Agent")
	if i := strings.IndexByte(ua, '/'); i >= 0 {
		ua = ua[:i]
	}
	if ua == "" {
		ua = "unknown"
	}
	return ua
}

func (s *store) create(w http.ResponseWriter, r *http.Request, tg *target, body []byte) *apiError {
	if tg.name != "" {
		return errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "the server does not allow this method on the requested resource")
	}
	obj, e := decodeObject(tg, body, false)
	if e != nil {
		return e
	}
	if e := s.validateFields(w, r, tg, obj); e != nil {
		return e
	}
	dry, e := dryRun(r)
	if e != nil {
		return e
	}
	m := meta(obj)
	if str(m, "name") == "" && str(m, "generateName") != "" {
		m["name"] = str(m, "generateName") + randomHex(3)[:5]
	}
	name := str(m, "name")
	if name == "" {
		return invalidError(tg.t, "", []map[string]interface{}{{"reason": "FieldValueRequired",
			"message": "Required value: name or generateName is required", "field": "metadata.name"}})
	}
	mgr := r.URL.Query().Get("fieldManager")
	if mgr == "" {
		mgr = userAgentManager(r)
	}
	named := *tg
	named.name = name
	s.mu.Lock()
	defer s.mu.Unlock()
	// As the API server: admission (a namespace that exists) and
	// validation come first, the name taken last, so a dry-run create of
	// an object that exists answers AlreadyExists only if it is valid.
	if e := s.namespaceExists(&named); e != nil {
		return e
	}
	delete(m, "managedFields")
	for _, k := range serverMeta {
		delete(m, k)
	}
	emptyTV, e := s.typed(tg.t, map[string]interface{}{})
	if e != nil {
		return e
	}
	newTV, e := s.typed(tg.t, obj)
	if e != nil {
		return e
	}
	if s.find(tg.t, tg.ns, name) != nil {
		e := errorf(http.StatusConflict, "AlreadyExists", "%s %q already exists", groupResource(tg.t), name)
		e.details = map[string]interface{}{"name": name, "group": tg.t.group, "kind": tg.t.plural}
		return e
	}
	key := managerKey(mgr, "Update", "")
	merged, managers, err := s.updater.Update(emptyTV, newTV, fieldpath.APIVersion(tg.t.gv()), fieldpath.ManagedFields{}, key)
	if err != nil {
		return errorf(http.StatusInternalServerError, "InternalError", "%v", err)
	}
	return s.commit(w, &named, nil, untyped(merged), managers, key, dry)
}

// jsonPatch is RFC 6902 (add, remove, replace, test), enough for a
// client that edits metadata.managedFields or a finalizer list.
func jsonPatch(doc map[string]interface{}, p interface{}) (map[string]interface{}, *apiError) {
	ops, ok := p.([]interface{})
	if !ok {
		return nil, errorf(http.StatusBadRequest, "BadRequest", "a JSON patch is a list of operations")
	}
	bad := func(f string, a ...interface{}) (map[string]interface{}, *apiError) {
		return nil, errorf(http.StatusUnprocessableEntity, "Invalid", f, a...)
	}
	var root interface{} = doc
	for _, x := range ops {
		op, _ := x.(map[string]interface{})
		if op == nil {
			return bad("a JSON patch operation is not an object")
		}
		var toks []string
		for _, t := range strings.Split(str(op, "path"), "/")[1:] {
			toks = append(toks, strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~"))
		}
		if len(toks) == 0 {
			return bad("the JSON patch path %q names the whole object", str(op, "path"))
		}
		var parent interface{} = root
		for _, t := range toks[:len(toks)-1] {
			switch c := parent.(type) {
			case map[string]interface{}:
				parent = c[t]
			case []interface{}:
				i, err := atoi(t, len(c)-1)
				if err != nil {
					return bad("%v", err)
				}
				parent = c[i]
			default:
				return bad("the JSON patch path %q does not exist", str(op, "path"))
			}
		}
		last := toks[len(toks)-1]
		verb := str(op, "op")
		switch c := parent.(type) {
		case map[string]interface{}:
			switch verb {
			case "add", "replace":
				if _, ok := c[last]; !ok && verb == "replace" {
					return bad("the JSON patch path %q does not exist", str(op, "path"))
				}
				c[last] = deepCopy(op["value"])
			case "remove":
				if _, ok := c[last]; !ok {
					return bad("the JSON patch path %q does not exist", str(op, "path"))
				}
				delete(c, last)
			case "test":
				if !sameValue(c[last], op["value"]) {
					return bad("the JSON patch test of %q failed", str(op, "path"))
				}
			default:
				return bad("JSON patch operation %q is not supported", verb)
			}
		case []interface{}:
			// A list is changed in place in its parent, found again.
			i := len(c)
			if last != "-" {
				n, err := atoi(last, len(c))
				if err != nil {
					return bad("%v", err)
				}
				i = n
			}
			var nl []interface{}
			switch verb {
			case "add":
				nl = append(append(append([]interface{}{}, c[:i]...), deepCopy(op["value"])), c[i:]...)
			case "replace", "remove", "test":
				if i >= len(c) {
					return bad("the JSON patch path %q does not exist", str(op, "path"))
				}
				if verb == "test" {
					if !sameValue(c[i], op["value"]) {
						return bad("the JSON patch test of %q failed", str(op, "path"))
					}
					continue
				}
				nl = append([]interface{}{}, c...)
				if verb == "replace" {
					nl[i] = deepCopy(op["value"])
				} else {
					nl = append(nl[:i], nl[i+1:]...)
				}
			default:
				return bad("JSON patch operation %q is not supported", verb)
			}
			setAt(root, toks[:len(toks)-1], nl)
		default:
			return bad("the JSON patch path %q does not exist", str(op, "path"))
		}
	}
	return doc, nil
}

func atoi(s string, max int) (int, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 0 || n > max {
		return 0, fmt.Errorf("bad list index %q", s)
	}
	return n, nil
}

func setAt(root interface{}, toks []string, v interface{}) {
	cur := root
	for i, t := range toks {
		switch c := cur.(type) {
		case map[string]interface{}:
			if i == len(toks)-1 {
				c[t] = v
				return
			}
			cur = c[t]
		case []interface{}:
			n, _ := atoi(t, len(c)-1)
			if i == len(toks)-1 {
				c[n] = v
				return
			}
			cur = c[n]
		}
	}
}

// crdAccept checks a CRD's names and sets the status the apiextensions
// controllers would: accepted names, Established and NamesAccepted.
func crdAccept(tg *target, crd map[string]interface{}) *apiError {
	group, _ := field(crd, "spec", "group")
	plural, _ := field(crd, "spec", "names", "plural")
	kind, _ := field(crd, "spec", "names", "kind")
	if group == nil || plural == nil || kind == nil {
		return invalidError(tg.t, tg.name, []map[string]interface{}{{"reason": "FieldValueRequired",
			"message": "Required value", "field": "spec.group, spec.names.plural, spec.names.kind"}})
	}
	if want := fmt.Sprintf("%v.%v", plural, group); want != tg.name {
		return invalidError(tg.t, tg.name, []map[string]interface{}{{"reason": "FieldValueInvalid",
			"message": fmt.Sprintf("Invalid value: %q: must be spec.names.plural+\".\"+spec.group", tg.name),
			"field":   "metadata.name"}})
	}
	names, _ := field(crd, "spec", "names")
	accepted := copyMap(names.(map[string]interface{}))
	if _, ok := accepted["singular"]; !ok {
		accepted["singular"] = strings.ToLower(fmt.Sprint(kind))
	}
	if _, ok := accepted["listKind"]; !ok {
		accepted["listKind"] = fmt.Sprint(kind) + "List"
	}
	var stored []interface{}
	versions, _ := field(crd, "spec", "versions")
	vl, _ := versions.([]interface{})
	for _, v := range vl {
		if vm, ok := v.(map[string]interface{}); ok && vm["storage"] == true {
			stored = append(stored, vm["name"])
		}
	}
	ts := now()
	if old, ok := field(crd, "status", "conditions"); ok {
		if l, ok := old.([]interface{}); ok && len(l) > 0 {
			if c, ok := l[0].(map[string]interface{}); ok && str(c, "lastTransitionTime") != "" {
				ts = str(c, "lastTransitionTime")
			}
		}
	}
	cond := func(t, reason, msg string) interface{} {
		return map[string]interface{}{"type": t, "status": "True", "reason": reason,
			"message": msg, "lastTransitionTime": ts}
	}
	crd["status"] = map[string]interface{}{
		"acceptedNames": accepted, "storedVersions": stored,
		"conditions": []interface{}{
			cond("NamesAccepted", "NoConflicts", "no conflicts found"),
			cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
		},
	}
	return nil
}

// registerCRD serves the kinds a CRD defines, one per served version.
func (s *store) registerCRD(o *object) {
	crd := o.data
	names, _ := field(crd, "spec", "names")
	nm, _ := names.(map[string]interface{})
	group, _ := field(crd, "spec", "group")
	sc, _ := field(crd, "spec", "scope")
	versions, _ := field(crd, "spec", "versions")
	vl, _ := versions.([]interface{})
	var short []string
	if l, ok := nm["shortNames"].([]interface{}); ok {
		for _, x := range l {
			short = append(short, fmt.Sprint(x))
		}
	}
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	s.reg.remove(str(meta(crd), "name"))
	for _, v := range vl {
		vm, ok := v.(map[string]interface{})
		if !ok || vm["served"] == false {
			continue
		}
		_, status := field(vm, "subresources", "status")
		t := &resType{group: fmt.Sprint(group), version: str(vm, "name"), kind: str(nm, "kind"),
			plural: str(nm, "plural"), singular: str(nm, "singular"), namespaced: sc != "Cluster",
			hasStatus: status, shortNames: short, crd: str(meta(crd), "name")}
		if t.singular == "" {
			t.singular = strings.ToLower(t.kind)
		}
		s.reg.add(t)
	}
}
