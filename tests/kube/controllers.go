// Simulated controllers, off unless a test asks (--controllers, or PUT
// /double/controllers): what kube-controller-manager and a kubelet would
// write, on a clock tests control. A Deployment, StatefulSet, DaemonSet
// or ReplicaSet rolls out its generation after a delay; one whose pod
// template names a bad image (a tag starting with the marker) never
// becomes available: a Pod of it waits in ImagePullBackOff, and a
// Deployment reaches ProgressDeadlineExceeded after its
// progressDeadlineSeconds, scaled to milliseconds. A Job completes, or
// fails with BackoffLimitExceeded when its image is bad.
//
// One goroutine does all the work, from a queue fed by the store's
// events (under the store's lock, never blocking) and by timers. It
// writes as a client would, through the store's own write paths (the
// status subresource, create, delete), so every write bumps the
// resourceVersion, sends watch events and is owned by the controller's
// field manager, never taking the applier's fields.
package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

type ctlConfig struct {
	Enabled bool `json:"enabled"`
	// RolloutMS is how long a rollout (or a Job) takes.
	RolloutMS int `json:"rolloutMs"`
	// DeadlineScale is the milliseconds a second of a Deployment's
	// progressDeadlineSeconds lasts (1: the default 600 s is 600 ms).
	DeadlineScale int `json:"deadlineScale"`
	// BadImage is the tag prefix of an image that never runs.
	BadImage string `json:"badImage"`
	// Pods: a bad rollout makes a Pod in ImagePullBackOff.
	Pods bool `json:"pods"`
}

// A queued item: a store event, or a step of a rollout that is run only
// if the object is still at the version it was planned for.
type ctlItem struct {
	ev    *event
	key   string
	ver   string
	step  func()
	reset bool
}

type controllers struct {
	s     *store
	mu    sync.Mutex
	cfg   ctlConfig
	queue []ctlItem
	wake  *sync.Cond
	// seen is, by object, the uid and generation being acted on; only
	// the worker touches it.
	seen map[string]string
}

const (
	ctlManager     = "kube-controller-manager"
	kubeletManager = "kubelet"
)

func newControllers(s *store, cfg ctlConfig) *controllers {
	c := &controllers{s: s, cfg: cfg, seen: map[string]string{}}
	c.wake = sync.NewCond(&c.mu)
	s.watchers.observe = c.observe
	s.created = c.created
	go c.run()
	return c
}

// observe is called under the store's lock for every event.
func (c *controllers) observe(ev event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.cfg.Enabled || controlled(ev.t) == "" {
		return
	}
	c.queue = append(c.queue, ctlItem{ev: &ev})
	c.wake.Signal()
}

// created gives a new workload or Job an empty status, as the real API
// server's typed objects have until their controller writes one: a
// client reading the create's answer sees a generation not observed yet
// (or a Job not complete), not an object with nothing to wait for.
// Called under the store's lock.
func (c *controllers) created(t *resType, obj map[string]interface{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := obj["status"]; !ok && c.cfg.Enabled && controlled(t) != "" {
		obj["status"] = map[string]interface{}{}
	}
}

func (c *controllers) enqueue(it ctlItem) {
	c.mu.Lock()
	c.queue = append(c.queue, it)
	c.wake.Signal()
	c.mu.Unlock()
}

func (c *controllers) config() ctlConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg
}

func (c *controllers) run() {
	for {
		c.mu.Lock()
		for len(c.queue) == 0 {
			c.wake.Wait()
		}
		it := c.queue[0]
		c.queue = c.queue[1:]
		enabled := c.cfg.Enabled
		c.mu.Unlock()
		switch {
		case it.reset:
			c.seen = map[string]string{}
		case !enabled:
		case it.ev != nil:
			c.handle(it.ev)
		case c.seen[it.key] == it.ver:
			it.step()
		}
	}
}

// controlled names the kinds simulated, "" for the others.
func controlled(t *resType) string {
	switch {
	case t.group == "apps" && (t.kind == "Deployment" || t.kind == "StatefulSet" ||
		t.kind == "DaemonSet" || t.kind == "ReplicaSet"):
		return t.kind
	case t.group == "batch" && t.kind == "Job":
		return t.kind
	}
	return ""
}

func (c *controllers) handle(ev *event) {
	m := meta(ev.obj)
	key := ev.t.key() + "/" + str(m, "namespace") + "/" + str(m, "name")
	if ev.typ == "DELETED" {
		delete(c.seen, key)
		return
	}
	if _, ok := m["deletionTimestamp"]; ok {
		return
	}
	gen, _ := m["generation"].(int64)
	ver := fmt.Sprintf("%s/%d", str(m, "uid"), gen)
	if ev.t.kind == "Job" {
		// A Job runs once; a later change (suspend, labels) is not a
		// new run.
		ver = str(m, "uid")
	}
	if c.seen[key] == ver {
		return // our own status write, or a change of no generation
	}
	c.seen[key] = ver
	r := &rollout{c: c, cfg: c.config(), t: ev.t, key: key, ver: ver, obj: ev.obj,
		ns: str(m, "namespace"), name: str(m, "name"), uid: str(m, "uid"), gen: gen}
	r.start()
}

// rollout is one generation of one object being acted on.
type rollout struct {
	c        *controllers
	cfg      ctlConfig
	t        *resType
	key, ver string
	obj      map[string]interface{}
	ns, name string
	uid      string
	gen      int64
	started  time.Time
}

// later runs f on the worker after d, if the object is still at this
// version then.
func (r *rollout) later(d time.Duration, f func()) {
	time.AfterFunc(d, func() {
		r.c.enqueue(ctlItem{key: r.key, ver: r.ver, step: f})
	})
}

func (r *rollout) logf(format string, args ...interface{}) {
	log.Printf("%s controllers: %s %s/%s generation %d: %s",
		time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), r.t.kind, r.ns, r.name, r.gen,
		fmt.Sprintf(format, args...))
}

func (r *rollout) start() {
	r.started = time.Now()
	delay := time.Duration(r.cfg.RolloutMS) * time.Millisecond
	bad := r.badImage()
	if r.t.kind == "Job" {
		r.writeStatus(r.jobStatus(0, false))
		r.later(delay, func() {
			r.writeStatus(r.jobStatus(1, bad != ""))
			if bad != "" {
				r.logf("failed: image %s", bad)
			} else {
				r.logf("complete")
			}
		})
		return
	}
	r.deletePods(r.hash())
	r.writeStatus(r.workloadStatus(0))
	if bad != "" {
		r.logf("rolling out the bad image %s", bad)
	} else {
		r.logf("rolling out")
	}
	r.later(delay, func() {
		if bad == "" {
			r.writeStatus(r.workloadStatus(1))
			r.logf("available")
			return
		}
		r.writeStatus(r.workloadStatus(2))
		if r.cfg.Pods {
			r.createPod(bad)
		}
		r.logf("not available: image %s", bad)
		if r.t.kind == "Deployment" {
			r.later(r.deadline()-delay, func() {
				r.writeStatus(r.workloadStatus(3))
				r.logf("progress deadline exceeded")
			})
		}
	})
}

// deadline is the Deployment's progressDeadlineSeconds, scaled.
func (r *rollout) deadline() time.Duration {
	secs, ok := field(r.obj, "spec", "progressDeadlineSeconds")
	n, _ := secs.(int64)
	if !ok || n <= 0 {
		n = 600
	}
	return time.Duration(n*int64(r.cfg.DeadlineScale)) * time.Millisecond
}

// podSpec is the pod template's spec (a Job's and a workload's alike).
func (r *rollout) podSpec() map[string]interface{} {
	v, _ := field(r.obj, "spec", "template", "spec")
	m, _ := v.(map[string]interface{})
	return m
}

// badImage is the first image of the pod template whose tag starts with
// the marker, "" if none does.
func (r *rollout) badImage() string {
	if r.cfg.BadImage == "" {
		return ""
	}
	spec := r.podSpec()
	for _, k := range []string{"initContainers", "containers"} {
		list, _ := spec[k].([]interface{})
		for _, x := range list {
			cm, _ := x.(map[string]interface{})
			img := str(cm, "image")
			ref := img
			if i := strings.IndexByte(ref, '@'); i >= 0 {
				ref = ref[:i]
			}
			if i := strings.LastIndexByte(ref, '/'); i >= 0 {
				ref = ref[i+1:]
			}
			if i := strings.IndexByte(ref, ':'); i >= 0 && strings.HasPrefix(ref[i+1:], r.cfg.BadImage) {
				return img
			}
		}
	}
	return ""
}

// hash stands for the pod-template-hash of the template's ReplicaSet.
func (r *rollout) hash() string {
	tmpl, _ := field(r.obj, "spec", "template")
	b, _ := json.Marshal(tmpl)
	h := fnv.New32a()
	h.Write(b)
	return fmt.Sprintf("%08x", h.Sum32())[:8]
}

func (r *rollout) replicas() int64 {
	if r.t.kind == "DaemonSet" {
		return 1 // one node
	}
	v, ok := field(r.obj, "spec", "replicas")
	n, _ := v.(int64)
	if !ok {
		n = 1
	}
	return n
}

// condition is a status condition; lastTransitionTime stays what it was
// while the condition's status does not change.
func condition(old map[string]interface{}, typ, status, reason, msg string) map[string]interface{} {
	c := map[string]interface{}{"type": typ, "status": status, "reason": reason, "message": msg,
		"lastTransitionTime": now()}
	if old != nil {
		conds, _ := field(old, "status", "conditions")
		list, _ := conds.([]interface{})
		for _, x := range list {
			if o, ok := x.(map[string]interface{}); ok && str(o, "type") == typ && str(o, "status") == status {
				if t := str(o, "lastTransitionTime"); t != "" {
					c["lastTransitionTime"] = t
				}
			}
		}
	}
	return c
}

// workloadStatus is the status at a phase of the rollout: 0 started, 1
// rolled out, 2 stuck on a bad image, 3 past the progress deadline. The
// replicas available before it stay available while it is stuck, as the
// rolling update keeps them.
func (r *rollout) workloadStatus(phase int) func(live map[string]interface{}) map[string]interface{} {
	return func(live map[string]interface{}) map[string]interface{} {
		want := r.replicas()
		num := func(k string) int64 {
			v, _ := field(live, "status", k)
			n, _ := v.(int64)
			return n
		}
		prevAvail := num("availableReplicas")
		if r.t.kind == "DaemonSet" {
			prevAvail = num("numberAvailable")
		}
		if prevAvail > want {
			prevAvail = want
		}
		updated, avail := int64(0), prevAvail
		switch phase {
		case 1:
			updated, avail = want, want
		case 2, 3:
			if want > 0 {
				updated = 1
			}
		}
		st := map[string]interface{}{"observedGeneration": r.gen}
		rs := r.name + "-" + r.hash()
		switch r.t.kind {
		case "Deployment":
			total := avail + updated
			if total > want+1 {
				total = want + 1
			}
			if phase == 1 {
				total = want
			}
			st["replicas"], st["updatedReplicas"] = total, updated
			st["readyReplicas"], st["availableReplicas"] = avail, avail
			if total > avail {
				st["unavailableReplicas"] = total - avail
			}
			availCond := condition(live, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
			if avail < want && want > 0 && avail == 0 {
				availCond = condition(live, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
			}
			prog := condition(live, "Progressing", "True", "ReplicaSetUpdated", fmt.Sprintf("ReplicaSet %q is progressing.", rs))
			switch phase {
			case 1:
				prog = condition(live, "Progressing", "True", "NewReplicaSetAvailable", fmt.Sprintf("ReplicaSet %q has successfully progressed.", rs))
			case 3:
				prog = condition(live, "Progressing", "False", "ProgressDeadlineExceeded", fmt.Sprintf("ReplicaSet %q has timed out progressing.", rs))
			}
			prog["lastUpdateTime"], availCond["lastUpdateTime"] = now(), now()
			st["conditions"] = []interface{}{availCond, prog}
		case "StatefulSet":
			old, _ := field(live, "status", "currentRevision")
			cur := rs
			if s, ok := old.(string); ok && s != "" && phase != 1 {
				cur = s
			}
			st["replicas"], st["updatedReplicas"], st["currentReplicas"] = want, updated, want-updated
			if phase == 1 {
				st["currentReplicas"] = want
			}
			st["readyReplicas"], st["availableReplicas"] = avail, avail
			st["currentRevision"], st["updateRevision"] = cur, rs
		case "DaemonSet":
			st["desiredNumberScheduled"], st["currentNumberScheduled"] = want, want
			st["numberMisscheduled"], st["updatedNumberScheduled"] = int64(0), updated
			st["numberReady"], st["numberAvailable"] = avail, avail
			if want > avail {
				st["numberUnavailable"] = want - avail
			}
		case "ReplicaSet":
			st["replicas"], st["fullyLabeledReplicas"] = want, want
			st["readyReplicas"], st["availableReplicas"] = avail, avail
		}
		return st
	}
}

// jobStatus: 0 running, 1 finished (failed if bad).
func (r *rollout) jobStatus(phase int, bad bool) func(live map[string]interface{}) map[string]interface{} {
	return func(live map[string]interface{}) map[string]interface{} {
		start := r.started.UTC().Format(time.RFC3339)
		if phase == 0 {
			return map[string]interface{}{"startTime": start, "active": int64(1), "ready": int64(0),
				"uncountedTerminatedPods": map[string]interface{}{}}
		}
		st := map[string]interface{}{"startTime": start, "ready": int64(0),
			"uncountedTerminatedPods": map[string]interface{}{}}
		if bad {
			limit, ok := field(r.obj, "spec", "backoffLimit")
			n, _ := limit.(int64)
			if !ok {
				n = 6
			}
			msg := "Job has reached the specified backoff limit"
			st["failed"] = n + 1
			st["conditions"] = []interface{}{
				condition(live, "FailureTarget", "True", "BackoffLimitExceeded", msg),
				condition(live, "Failed", "True", "BackoffLimitExceeded", msg),
			}
			return st
		}
		v, ok := field(r.obj, "spec", "completions")
		n, _ := v.(int64)
		if !ok {
			n = 1
		}
		st["succeeded"], st["completionTime"] = n, now()
		msg := "Reached expected number of succeeded pods"
		st["conditions"] = []interface{}{
			condition(live, "SuccessCriteriaMet", "True", "CompletionsReached", msg),
			condition(live, "Complete", "True", "CompletionsReached", msg),
		}
		return st
	}
}

// request is what the store's write paths read of a client's request:
// the field manager (and no dry run).
func request(method, manager string, body io.Reader) *http.Request {
	r, _ := http.NewRequest(method, "https://kube-double/?fieldManager="+manager, body)
	return r
}

func (r *rollout) failed(what string, rec *httptest.ResponseRecorder) {
	if rec.Code >= 300 && rec.Code != http.StatusConflict {
		r.logf("cannot %s: %d %s", what, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
}

// writeStatus writes the status subresource as the controller, if the
// object is still the one at the generation planned for (a 409 aborts
// it otherwise, as a stale controller's write would be refused).
func (r *rollout) writeStatus(status func(map[string]interface{}) map[string]interface{}) {
	tg := &target{t: r.t, ns: r.ns, name: r.name, sub: "status", group: r.t.group, version: r.t.version}
	rec := httptest.NewRecorder()
	e := r.c.s.change(rec, request(http.MethodPatch, ctlManager, nil), tg,
		func(live map[string]interface{}) (map[string]interface{}, *apiError) {
			m := meta(live)
			if g, _ := m["generation"].(int64); str(m, "uid") != r.uid || (r.t.kind != "Job" && g != r.gen) {
				return nil, modifiedError(tg)
			}
			live["status"] = status(live)
			return live, nil
		})
	if e != nil {
		rec.Code = e.code
		rec.Body.WriteString(e.message)
	}
	r.failed("write the status", rec)
}

func (r *rollout) podType() *resType { return r.c.s.reg.lookup("", "v1", "pods") }

// createPod makes one Pod of the template, owned by the workload, whose
// container waits in ImagePullBackOff, as the kubelet reports it.
func (r *rollout) createPod(image string) {
	hash := r.hash()
	labels := map[string]interface{}{}
	if l, ok := field(r.obj, "spec", "template", "metadata", "labels"); ok {
		if lm, ok := l.(map[string]interface{}); ok {
			labels = copyMap(lm)
		}
	}
	labels["pod-template-hash"] = hash
	spec := copyMap(r.podSpec())
	name := r.name + "-" + hash + "-" + randomHex(3)[:5]
	pod := map[string]interface{}{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]interface{}{"name": name, "namespace": r.ns, "labels": labels,
			"ownerReferences": []interface{}{map[string]interface{}{
				"apiVersion": r.t.gv(), "kind": r.t.kind, "name": r.name, "uid": r.uid,
				"controller": true, "blockOwnerDeletion": true}}},
		"spec": spec}
	body, _ := json.Marshal(pod)
	pt := r.podType()
	rec := httptest.NewRecorder()
	tg := &target{t: pt, ns: r.ns, group: "", version: "v1"}
	if e := r.c.s.create(rec, request(http.MethodPost, ctlManager, nil), tg, body); e != nil {
		rec.Code = e.code
		rec.Body.WriteString(e.message)
	}
	if rec.Code >= 300 {
		r.failed("create a pod", rec)
		return
	}
	var statuses []interface{}
	list, _ := spec["containers"].([]interface{})
	for _, x := range list {
		cm, _ := x.(map[string]interface{})
		st := map[string]interface{}{"name": str(cm, "name"), "image": str(cm, "image"),
			"imageID": "", "ready": false, "restartCount": int64(0), "started": false,
			"state": map[string]interface{}{"waiting": map[string]interface{}{"reason": "ContainerCreating"}}}
		if str(cm, "image") == image {
			st["state"] = map[string]interface{}{"waiting": map[string]interface{}{
				"reason": "ImagePullBackOff", "message": fmt.Sprintf("Back-off pulling image %q", image)}}
		}
		statuses = append(statuses, st)
	}
	ptg := &target{t: pt, ns: r.ns, name: name, sub: "status", version: "v1"}
	rec = httptest.NewRecorder()
	e := r.c.s.change(rec, request(http.MethodPatch, kubeletManager, nil), ptg,
		func(live map[string]interface{}) (map[string]interface{}, *apiError) {
			live["status"] = map[string]interface{}{"phase": "Pending", "startTime": now(),
				"conditions": []interface{}{
					condition(nil, "PodScheduled", "True", "", ""),
					condition(nil, "Ready", "False", "ContainersNotReady", "containers with unready status"),
				},
				"containerStatuses": statuses}
			return live, nil
		})
	if e != nil {
		rec.Code = e.code
		rec.Body.WriteString(e.message)
	}
	r.failed("write a pod's status", rec)
}

// deletePods deletes the workload's pods of other templates: a new
// rollout first scales down the replicas that never became available.
func (r *rollout) deletePods(keep string) {
	pt := r.podType()
	var names []string
	s := r.c.s
	s.mu.Lock()
	for _, o := range s.key(pt) {
		m := meta(o.data)
		l, _ := m["labels"].(map[string]interface{})
		if str(m, "namespace") == r.ns && ownedBy(o, r.uid) && str(l, "pod-template-hash") != keep {
			names = append(names, str(m, "name"))
		}
	}
	s.mu.Unlock()
	for _, n := range names {
		rec := httptest.NewRecorder()
		tg := &target{t: pt, ns: r.ns, name: n, version: "v1"}
		if e := s.delete(rec, request(http.MethodDelete, ctlManager, nil), tg, nil); e != nil && e.code != http.StatusNotFound {
			r.logf("cannot delete pod %s: %s", n, e.message)
		}
	}
}

// resync forgets what was acted on and acts on every object there is,
// as a controller manager starting on a running cluster would.
func (c *controllers) resync() {
	c.enqueue(ctlItem{reset: true})
	var evs []event
	s := c.s
	s.mu.Lock()
	for _, objs := range s.objects {
		for _, o := range objs {
			if controlled(o.t) != "" {
				evs = append(evs, event{typ: "ADDED", t: o.t, obj: s.render(o)})
			}
		}
	}
	s.mu.Unlock()
	for i := range evs {
		c.enqueue(ctlItem{ev: &evs[i]})
	}
}

// serveAdmin is the knob: GET shows the settings, PUT changes those the
// JSON names (enabling acts on the objects already there).
func (c *controllers) serveAdmin(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, c.config())
	case http.MethodPut:
		c.mu.Lock()
		cfg := c.cfg
		c.mu.Unlock()
		was := cfg.Enabled
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<12)).Decode(&cfg); err != nil ||
			cfg.RolloutMS < 0 || cfg.DeadlineScale < 0 {
			writeStatus(w, http.StatusBadRequest, "BadRequest",
				"want {\"enabled\": BOOL, \"rolloutMs\": N, \"deadlineScale\": N, \"badImage\": TAG-PREFIX, \"pods\": BOOL}", nil)
			return
		}
		c.mu.Lock()
		c.cfg = cfg
		c.mu.Unlock()
		if cfg.Enabled && !was {
			c.resync()
		}
		writeJSON(w, http.StatusOK, cfg)
	default:
		writeStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "GET or PUT", nil)
	}
}
