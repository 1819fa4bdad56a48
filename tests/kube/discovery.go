// The kinds the double serves and how clients learn of them: aggregated
// discovery (apidiscovery.k8s.io/v2 and v2beta1), the legacy documents
// (/api, /apis, /api/v1, /apis/G/V) and the minimal /openapi/v3 that
// kubectl's validation needs. Built-in kinds take their schema from the
// Kubernetes OpenAPI v2 document; kinds registered by a CRD are deduced.
// Everything here runs under the registry's lock; it never touches objects.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"

	openapi_v2 "github.com/googleapis/gnostic/OpenAPIv2"
	"k8s.io/kube-openapi/pkg/schemaconv"
	"k8s.io/kube-openapi/pkg/util/proto"
	"sigs.k8s.io/structured-merge-diff/schema"
	"sigs.k8s.io/structured-merge-diff/typed"
)

type resType struct {
	group, version, kind, plural, singular string
	namespaced                             bool
	hasStatus                              bool
	shortNames                             []string
	// model is the OpenAPI definition of the kind; "" for a custom
	// resource, whose type is deduced. exact says the definition is of
	// this very version, so unknown fields can be reported (older
	// definitions stand in for kinds the 1.13 document lacks).
	model string
	exact bool
	pt    typed.ParseableType
	crd   string // the CRD that registered it
}

func (t *resType) gv() string {
	if t.group == "" {
		return t.version
	}
	return t.group + "/" + t.version
}

func (t *resType) key() string { return t.group + "/" + t.version + "/" + t.plural }

type registry struct {
	mu     sync.RWMutex
	types  []*resType
	byKey  map[string]*resType
	models proto.Models
	schema *schema.Schema
}

var builtins = []struct {
	gv, kind, plural string
	namespaced       bool
	status           bool
	model            string
	exact            bool
	short            []string
}{
	{"v1", "ConfigMap", "configmaps", true, false, "io.k8s.api.core.v1.ConfigMap", true, []string{"cm"}},
	{"v1", "Secret", "secrets", true, false, "io.k8s.api.core.v1.Secret", true, nil},
	{"v1", "Service", "services", true, true, "io.k8s.api.core.v1.Service", false, []string{"svc"}},
	{"v1", "ServiceAccount", "serviceaccounts", true, false, "io.k8s.api.core.v1.ServiceAccount", true, []string{"sa"}},
	{"v1", "Namespace", "namespaces", false, true, "io.k8s.api.core.v1.Namespace", true, []string{"ns"}},
	{"v1", "Pod", "pods", true, true, "io.k8s.api.core.v1.Pod", false, []string{"po"}},
	{"v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, true, "io.k8s.api.core.v1.PersistentVolumeClaim", false, []string{"pvc"}},
	{"v1", "PersistentVolume", "persistentvolumes", false, true, "io.k8s.api.core.v1.PersistentVolume", false, []string{"pv"}},
	{"apps/v1", "Deployment", "deployments", true, true, "io.k8s.api.apps.v1.Deployment", false, []string{"deploy"}},
	{"apps/v1", "StatefulSet", "statefulsets", true, true, "io.k8s.api.apps.v1.StatefulSet", false, []string{"sts"}},
	{"apps/v1", "DaemonSet", "daemonsets", true, true, "io.k8s.api.apps.v1.DaemonSet", false, []string{"ds"}},
	{"apps/v1", "ReplicaSet", "replicasets", true, true, "io.k8s.api.apps.v1.ReplicaSet", false, []string{"rs"}},
	{"batch/v1", "Job", "jobs", true, true, "io.k8s.api.batch.v1.Job", false, nil},
	{"batch/v1", "CronJob", "cronjobs", true, true, "io.k8s.api.batch.v1beta1.CronJob", false, []string{"cj"}},
	{"rbac.authorization.k8s.io/v1", "Role", "roles", true, false, "io.k8s.api.rbac.v1.Role", true, nil},
	{"rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", true, false, "io.k8s.api.rbac.v1.RoleBinding", true, nil},
	{"rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", false, false, "io.k8s.api.rbac.v1.ClusterRole", true, nil},
	{"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", false, false, "io.k8s.api.rbac.v1.ClusterRoleBinding", true, nil},
	{"networking.k8s.io/v1", "Ingress", "ingresses", true, true, "io.k8s.api.extensions.v1beta1.Ingress", false, []string{"ing"}},
	{"networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", true, false, "io.k8s.api.networking.v1.NetworkPolicy", false, []string{"netpol"}},
	{"policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", true, true, "io.k8s.api.policy.v1beta1.PodDisruptionBudget", false, []string{"pdb"}},
	{"autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, true, "io.k8s.api.autoscaling.v2beta2.HorizontalPodAutoscaler", false, []string{"hpa"}},
	{"apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", false, true, "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1beta1.CustomResourceDefinition", false, []string{"crd", "crds"}},
	{"coordination.k8s.io/v1", "Lease", "leases", true, false, "io.k8s.api.coordination.v1beta1.Lease", false, nil},
}

func splitGV(gv string) (string, string) {
	if i := strings.IndexByte(gv, '/'); i >= 0 {
		return gv[:i], gv[i+1:]
	}
	return "", gv
}

func newRegistry(swagger string) (*registry, error) {
	raw, err := os.ReadFile(swagger)
	if err != nil {
		return nil, err
	}
	doc, err := openapi_v2.ParseDocument(raw)
	if err != nil {
		return nil, err
	}
	models, err := proto.NewOpenAPIData(doc)
	if err != nil {
		return nil, err
	}
	// Unknown fields are kept (and deduced) so that fields newer than
	// the 1.13 document still merge; strict validation is separate.
	sch, err := schemaconv.ToSchemaWithPreserveUnknownFields(models, true)
	if err != nil {
		return nil, err
	}
	reg := &registry{byKey: map[string]*resType{}, models: models, schema: sch}
	for _, b := range builtins {
		g, v := splitGV(b.gv)
		t := &resType{group: g, version: v, kind: b.kind, plural: b.plural,
			singular: strings.ToLower(b.kind), namespaced: b.namespaced,
			hasStatus: b.status, shortNames: b.short, model: b.model, exact: b.exact}
		model := b.model
		t.pt = typed.ParseableType{Schema: sch, TypeRef: schema.TypeRef{NamedType: &model}}
		if !t.pt.IsValid() {
			return nil, fmt.Errorf("no definition '%s' in the schema", b.model)
		}
		reg.add(t)
	}
	return reg, nil
}

// add registers t; the caller holds the lock (or owns the registry).
func (reg *registry) add(t *resType) {
	if old, ok := reg.byKey[t.key()]; ok {
		*old = *t
		return
	}
	reg.types = append(reg.types, t)
	reg.byKey[t.key()] = t
}

func (reg *registry) remove(crd string) {
	kept := reg.types[:0]
	for _, t := range reg.types {
		if t.crd == crd {
			delete(reg.byKey, t.key())
			continue
		}
		kept = append(kept, t)
	}
	reg.types = kept
}

func (reg *registry) lookup(group, version, plural string) *resType {
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	return reg.byKey[group+"/"+version+"/"+plural]
}

func (reg *registry) byKind(apiVersion, kind string) *resType {
	g, v := splitGV(apiVersion)
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	for _, t := range reg.types {
		if t.group == g && t.version == v && t.kind == kind {
			return t
		}
	}
	return nil
}

// unknownFields lists the fields of obj that the kind's definition does
// not declare (fieldValidation=Strict), for kinds with an exact one.
func (reg *registry) unknownFields(t *resType, obj map[string]interface{}) []string {
	if !t.exact {
		return nil
	}
	var out []string
	var walk func(s proto.Schema, v interface{}, path string)
	walk = func(s proto.Schema, v interface{}, path string) {
		switch s := s.(type) {
		case *proto.Ref:
			walk(s.SubSchema(), v, path)
		case *proto.Kind:
			m, ok := v.(map[string]interface{})
			if !ok {
				return
			}
			for k, sub := range m {
				fs, ok := s.Fields[k]
				if !ok {
					out = append(out, strings.TrimPrefix(path+"."+k, "."))
					continue
				}
				walk(fs, sub, path+"."+k)
			}
		case *proto.Map:
			if m, ok := v.(map[string]interface{}); ok {
				for k, sub := range m {
					walk(s.SubType, sub, path+"."+k)
				}
			}
		case *proto.Array:
			if l, ok := v.([]interface{}); ok {
				for i, sub := range l {
					walk(s.SubType, sub, fmt.Sprintf("%s[%d]", path, i))
				}
			}
		}
	}
	walk(reg.models.LookupModel(t.model), obj, "")
	sort.Strings(out)
	return out
}

var verbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

type groupVersions struct {
	group    string
	versions []string
	types    map[string][]*resType
}

// groups lists the served groups in registration order; the core group
// (named "") is first.
func (reg *registry) groups() []*groupVersions {
	var out []*groupVersions
	index := map[string]*groupVersions{}
	for _, t := range reg.types {
		g, ok := index[t.group]
		if !ok {
			g = &groupVersions{group: t.group, types: map[string][]*resType{}}
			index[t.group] = g
			out = append(out, g)
		}
		if _, ok := g.types[t.version]; !ok {
			g.versions = append(g.versions, t.version)
		}
		g.types[t.version] = append(g.types[t.version], t)
	}
	return out
}

func scope(t *resType) string {
	if t.namespaced {
		return "Namespaced"
	}
	return "Cluster"
}

func (reg *registry) aggregated(core bool, apiVersion string) map[string]interface{} {
	items := []interface{}{}
	for _, g := range reg.groups() {
		if (g.group == "") != core {
			continue
		}
		var versions []interface{}
		for _, v := range g.versions {
			var res []interface{}
			for _, t := range g.types[v] {
				gvk := map[string]interface{}{"group": t.group, "version": t.version, "kind": t.kind}
				r := map[string]interface{}{
					"resource": t.plural, "responseKind": gvk, "scope": scope(t),
					"singularResource": t.singular, "verbs": verbs,
				}
				if len(t.shortNames) > 0 {
					r["shortNames"] = t.shortNames
				}
				if t.hasStatus {
					r["subresources"] = []interface{}{map[string]interface{}{
						"subresource": "status", "responseKind": gvk,
						"verbs": []string{"get", "patch", "update"},
					}}
				}
				res = append(res, r)
			}
			versions = append(versions, map[string]interface{}{
				"version": v, "resources": res, "freshness": "Current",
			})
		}
		items = append(items, map[string]interface{}{
			"metadata": map[string]interface{}{"name": g.group}, "versions": versions,
		})
	}
	return map[string]interface{}{
		"kind": "APIGroupDiscoveryList", "apiVersion": apiVersion,
		"metadata": map[string]interface{}{}, "items": items,
	}
}

func apiGroup(g *groupVersions) map[string]interface{} {
	var vs []interface{}
	for _, v := range g.versions {
		vs = append(vs, map[string]interface{}{"groupVersion": g.group + "/" + v, "version": v})
	}
	return map[string]interface{}{
		"kind": "APIGroup", "apiVersion": "v1", "name": g.group, "versions": vs,
		"preferredVersion": vs[0],
	}
}

func resourceList(gv string, types []*resType) map[string]interface{} {
	res := []interface{}{}
	for _, t := range types {
		r := map[string]interface{}{
			"name": t.plural, "singularName": t.singular, "namespaced": t.namespaced,
			"kind": t.kind, "verbs": verbs,
		}
		if len(t.shortNames) > 0 {
			r["shortNames"] = t.shortNames
		}
		res = append(res, r)
		if t.hasStatus {
			res = append(res, map[string]interface{}{
				"name": t.plural + "/status", "singularName": "", "namespaced": t.namespaced,
				"kind": t.kind, "verbs": []string{"get", "patch", "update"},
			})
		}
	}
	return map[string]interface{}{
		"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res,
	}
}

func (reg *registry) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	p := strings.TrimSuffix(r.URL.Path, "/")
	accept := r.Header.Get("Accept")
	if p == "/api" || p == "/apis" {
		for _, v := range []string{"v2", "v2beta1"} {
			if strings.Contains(accept, "g=apidiscovery.k8s.io;v="+v+";as=APIGroupDiscoveryList") {
				w.Header().Set("Content-Type", "application/json;g=apidiscovery.k8s.io;v="+v+";as=APIGroupDiscoveryList")
				writeJSONBody(w, http.StatusOK, reg.aggregated(p == "/api", "apidiscovery.k8s.io/"+v))
				return
			}
		}
	}
	if p == "/api" {
		writeJSON(w, http.StatusOK, map[string]interface{}{
			"kind": "APIVersions", "versions": []string{"v1"},
			"serverAddressByClientCIDRs": []interface{}{map[string]interface{}{
				"clientCIDR": "0.0.0.0/0", "serverAddress": r.Host}},
		})
		return
	}
	if p == "/apis" {
		groups := []interface{}{}
		for _, g := range reg.groups() {
			if g.group != "" {
				groups = append(groups, apiGroup(g))
			}
		}
		writeJSON(w, http.StatusOK, map[string]interface{}{"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
		return
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	group, version := "", ""
	switch {
	case len(parts) == 2 && parts[0] == "api":
		version = parts[1]
	case len(parts) == 2:
		group = parts[1]
	case len(parts) == 3:
		group, version = parts[1], parts[2]
	}
	for _, g := range reg.groups() {
		if g.group != group {
			continue
		}
		if version == "" {
			writeJSON(w, http.StatusOK, apiGroup(g))
			return
		}
		if types, ok := g.types[version]; ok {
			writeJSON(w, http.StatusOK, resourceList(strings.TrimPrefix(group+"/"+version, "/"), types))
			return
		}
	}
	writeStatus(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource", nil)
}

// openAPIDoc is the per group-version document: one path per kind whose
// PATCH operation names its kind and lists the fieldValidation parameter,
// which is all kubectl looks for before it leaves validation to the server.
func openAPIDoc(gv string, types []*resType) map[string]interface{} {
	paths := map[string]interface{}{}
	prefix := "/apis/" + gv
	if !strings.Contains(gv, "/") {
		prefix = "/api/" + gv
	}
	for _, t := range types {
		p := prefix + "/" + t.plural + "/{name}"
		if t.namespaced {
			p = prefix + "/namespaces/{namespace}/" + t.plural + "/{name}"
		}
		gvk := map[string]interface{}{"group": t.group, "version": t.version, "kind": t.kind}
		param := func(n string) interface{} {
			return map[string]interface{}{"name": n, "in": "query", "schema": map[string]interface{}{"type": "string"}}
		}
		paths[p] = map[string]interface{}{
			"patch": map[string]interface{}{
				"x-kubernetes-group-version-kind": gvk,
				"x-kubernetes-action":             "patch",
				"parameters": []interface{}{param("dryRun"), param("fieldManager"),
					param("fieldValidation"), param("force")},
				"responses": map[string]interface{}{"200": map[string]interface{}{"description": "OK"}},
			},
		}
	}
	return map[string]interface{}{
		"openapi":    "3.0.0",
		"info":       map[string]interface{}{"title": "Kubernetes", "version": "v1.32.0"},
		"paths":      paths,
		"components": map[string]interface{}{"schemas": map[string]interface{}{}},
	}
}

func (reg *registry) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	docs := map[string]map[string]interface{}{}
	for _, g := range reg.groups() {
		for _, v := range g.versions {
			gv, key := v, "api/"+v
			if g.group != "" {
				gv = g.group + "/" + v
				key = "apis/" + gv
			}
			docs[key] = openAPIDoc(gv, g.types[v])
		}
	}
	want := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/openapi/v3"), "/")
	if want == "" {
		paths := map[string]interface{}{}
		for key, doc := range docs {
			b, _ := json.Marshal(doc)
			sum := sha256.Sum256(b)
			paths[key] = map[string]interface{}{
				"serverRelativeURL": "/openapi/v3/" + key + "?hash=" + hex.EncodeToString(sum[:8]),
			}
		}
		writeJSON(w, http.StatusOK, map[string]interface{}{"paths": paths})
		return
	}
	doc, ok := docs[want]
	if !ok {
		writeStatus(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource", nil)
		return
	}
	writeJSON(w, http.StatusOK, doc)
}
