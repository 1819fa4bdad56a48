// kube-double: a Kubernetes API server double for gitops-agent's tests.
//
// This file owns the process: flags, the self-signed CA and the server and
// client certificates, the kubeconfigs written into --dir, authentication
// and the HTTP routing. Field ownership is never decided here: that is
// structured-merge-diff's, in store.go. It listens on 127.0.0.1 only and
// never logs a token or a key.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const defaultSwagger = "/usr/share/gocode/src/k8s.io/kube-openapi/pkg/schemaconv/testdata/swagger.json"

type server struct {
	store      *store
	knobs      *knobs
	ctl        *controllers
	token      string
	adminToken string
}

func main() {
	dir := flag.String("dir", "", "directory for kubeconfig, token.kubeconfig, admin-token, ca.crt and url")
	latency := flag.Int("latency", 0, "milliseconds of latency added to every request")
	swagger := flag.String("swagger", defaultSwagger, "Kubernetes OpenAPI v2 document with the built-in kinds' schemas")
	var cfg ctlConfig
	flag.BoolVar(&cfg.Enabled, "controllers", false, "simulate the controllers (rollouts, Jobs)")
	flag.IntVar(&cfg.RolloutMS, "rollout-delay", 300, "milliseconds a simulated rollout or Job takes")
	flag.IntVar(&cfg.DeadlineScale, "deadline-scale", 1, "milliseconds a second of progressDeadlineSeconds lasts")
	flag.StringVar(&cfg.BadImage, "bad-image", "bad", "tag prefix of an image that never runs")
	flag.BoolVar(&cfg.Pods, "bad-pods", true, "a bad rollout makes a Pod in ImagePullBackOff")
	flag.Parse()
	if *dir == "" || cfg.RolloutMS < 0 || cfg.DeadlineScale < 0 {
		fmt.Fprintln(os.Stderr, "usage: kube-double --dir DIR [--latency MS] [--swagger FILE] [--controllers]\n"+
			"\t[--rollout-delay MS] [--deadline-scale MS] [--bad-image PREFIX] [--bad-pods=false]")
		os.Exit(2)
	}
	log.SetPrefix("kube-double: ")
	log.SetFlags(0)

	st, err := newStore(*swagger)
	if err != nil {
		log.Fatalf("cannot load schemas from '%s': %v", *swagger, err)
	}
	s := &server{
		store:      st,
		knobs:      newKnobs(time.Duration(*latency) * time.Millisecond),
		ctl:        newControllers(st, cfg),
		token:      randomHex(24),
		adminToken: randomHex(24),
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatalf("cannot listen on 127.0.0.1: %v", err)
	}
	tlsConfig, ca, client, err := makeCerts()
	if err != nil {
		log.Fatalf("cannot make certificates: %v", err)
	}
	url := "https://" + ln.Addr().String()
	if err := writeFiles(*dir, url, ca, client, s.token, s.adminToken); err != nil {
		log.Fatalf("cannot write into '%s': %v", *dir, err)
	}

	// HTTP/1.1 only, so that a dropped connection is a closed socket, as
	// a client would see a server or proxy going away.
	hs := &http.Server{
		Handler:      s,
		TLSConfig:    tlsConfig,
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     log.New(os.Stderr, "kube-double: http: ", 0),
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		hs.Close()
		os.Exit(0)
	}()
	log.Printf("serving %s", url)
	if err := hs.Serve(tls.NewListener(ln, tlsConfig)); err != http.ErrServerClosed {
		log.Fatalf("serve: %v", err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		log.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

type pemPair struct {
	cert []byte
	key  []byte
}

func newCert(tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, pemPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, pemPair{}, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, nil, pemPair{}, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(7 * 24 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, pemPair{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, pemPair{}, err
	}
	keyDer, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, pemPair{}, err
	}
	return cert, key, pemPair{
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDer}),
	}, nil
}

// makeCerts makes a CA, the server's certificate for 127.0.0.1 and a
// client certificate for the kubeconfig, all signed by the CA.
func makeCerts() (*tls.Config, pemPair, pemPair, error) {
	caCert, caKey, caPem, err := newCert(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "kube-double-ca"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil, nil)
	if err != nil {
		return nil, pemPair{}, pemPair{}, err
	}
	_, _, srvPem, err := newCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:    []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, caCert, caKey)
	if err != nil {
		return nil, pemPair{}, pemPair{}, err
	}
	_, _, cliPem, err := newCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-double-admin", Organization: []string{"system:masters"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, caCert, caKey)
	if err != nil {
		return nil, pemPair{}, pemPair{}, err
	}
	pair, err := tls.X509KeyPair(srvPem.cert, srvPem.key)
	if err != nil {
		return nil, pemPair{}, pemPair{}, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientCAs:    pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
	}, caPem, cliPem, nil
}

func kubeconfig(url string, ca pemPair, user string) string {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kube-double
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: kube-double
  user:
%s
contexts:
- name: kube-double
  context:
    cluster: kube-double
    user: kube-double
    namespace: default
current-context: kube-double
`, url, b64(ca.cert), user)
}

// writeFiles writes each file whole (a temporary name, then rename), so
// that a test polling for the kubeconfig never reads half of one; the
// kubeconfig comes last, when everything else is in place.
func writeFiles(dir, url string, ca, client pemPair, token, adminToken string) error {
	b64 := base64.StdEncoding.EncodeToString
	files := []struct{ name, text string }{
		{"admin-token", adminToken + "\n"},
		{"ca.crt", string(ca.cert)},
		{"url", url + "\n"},
		{"token.kubeconfig", kubeconfig(url, ca, "    token: "+token)},
		{"kubeconfig", kubeconfig(url, ca, "    client-certificate-data: "+b64(client.cert)+
			"\n    client-key-data: "+b64(client.key))},
	}
	for _, f := range files {
		tmp := filepath.Join(dir, "."+f.name+".tmp")
		if err := os.WriteFile(tmp, []byte(f.text), 0600); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			return err
		}
	}
	return nil
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Bearer ") {
		return ""
	}
	return strings.TrimSpace(h[len("Bearer "):])
}

func tokenIs(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (s *server) authenticated(r *http.Request) bool {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return true
	}
	return tokenIs(bearer(r), s.token)
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, adminPrefix) {
		if !tokenIs(bearer(r), s.adminToken) {
			writeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized", nil)
			return
		}
		if r.URL.Path == adminPrefix+"controllers" {
			s.ctl.serveAdmin(w, r)
			return
		}
		s.knobs.serveAdmin(w, r, s.store)
		return
	}
	verb := "discovery"
	if tg, e := s.store.parsePath(r.URL.Path); e == nil {
		verb = verbOf(r, tg)
	}
	if verb == "apply" && r.URL.Query().Get("dryRun") != "" {
		// Counted apart: a client's dry-runs are what it compares by.
		verb = "dryrun"
	}
	if s.knobs.before(w, r, verb) {
		return
	}
	if !s.authenticated(r) {
		writeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized", nil)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/version":
		writeJSON(w, http.StatusOK, map[string]interface{}{
			"major": "1", "minor": "32", "gitVersion": "v1.32.0-kube-double",
			"platform": "linux/amd64",
		})
	case p == "/healthz" || p == "/readyz" || p == "/livez":
		w.Write([]byte("ok"))
	case p == "/api" || p == "/apis" || p == "/api/v1" ||
		(strings.HasPrefix(p, "/apis/") && strings.Count(p, "/") <= 3):
		s.store.reg.serveDiscovery(w, r)
	case p == "/openapi/v3" || strings.HasPrefix(p, "/openapi/v3/"):
		s.store.reg.serveOpenAPI(w, r)
	case strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/apis/"):
		s.store.serveResource(w, r)
	default:
		writeStatus(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource", nil)
	}
}

// apiError is a failed request as the API server reports it: a Status.
type apiError struct {
	code    int
	reason  string
	message string
	details map[string]interface{}
	header  map[string]string
}

func (e *apiError) Error() string { return e.message }

func errorf(code int, reason, format string, args ...interface{}) *apiError {
	return &apiError{code: code, reason: reason, message: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, code int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	writeJSONBody(w, code, v)
}

func writeJSONBody(w http.ResponseWriter, code int, v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","code":500}`)
	}
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func statusObject(code int, reason, message string, details map[string]interface{}) map[string]interface{} {
	st := map[string]interface{}{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]interface{}{},
		"status": "Failure", "message": message, "reason": reason, "code": code,
	}
	if details != nil {
		st["details"] = details
	}
	return st
}

func writeStatus(w http.ResponseWriter, code int, reason, message string, details map[string]interface{}) {
	writeJSON(w, code, statusObject(code, reason, message, details))
}

func writeError(w http.ResponseWriter, e *apiError) {
	for k, v := range e.header {
		w.Header().Set(k, v)
	}
	writeStatus(w, e.code, e.reason, e.message, e.details)
}
