#!/bin/sh
# t0235-https-probes: http probes over TLS, against `openssl s_server` on
# 127.0.0.1 with a certificate signed by a CA made here. With the CA named
# in the probe's ca_file the sync is healthy; without it (the system's CAs
# do not know it) the probe fails, naming the URL and the certificate
# problem; a certificate for another name fails even with the CA trusted.
. "$TEST_SRCDIR/tests/lib.sh"

# make_cert NAME SUBJECT_ALT_NAME: NAME.key and NAME.pem signed by ca.pem.
make_cert() {
	openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" \
	    -subj "/CN=$1" -out "$1.csr" 2>/dev/null &&
	printf 'subjectAltName=%s\n' "$2" >"$1.ext" &&
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key \
	    -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}

# serve NAME: s_server with NAME's certificate on a free port, in TLS_PORT.
serve() {
	TLS_PORT=$(test_free_port)
	openssl s_server -quiet -www -accept "127.0.0.1:$TLS_PORT" \
	    -cert "$1.pem" -key "$1.key" >"s_server-$1.log" 2>&1 &
	test_cleanup_pid $!
	test_wait_for 100 curl -skf "https://127.0.0.1:$TLS_PORT/" || {
		echo "Bail out! openssl s_server did not start"
		exit 1
	}
}

# config FILE URL [CA_FILE]: one app with one http probe of URL.
config() {
	cat >"$1" <<-EOF
	state_dir: ./state
	repositories:
	  - name: local
	    directory: ./src
	apps:
	  - name: web
	    repository: local
	    path: app
	    target: {type: directory, path: ./live-$1}
	    sync_timeout: 60s
	    health:
	      - name: tls
	        type: http
	        url: $2
	        failures: 1
	        timeout: 10s
	EOF
	if [ -n "${3:-}" ]; then
		printf '        ca_file: %s\n' "$3" >>"$1"
	fi
}

# The servers, at the top level: a test runs in a subshell.
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key \
    -subj "/CN=gitops-agent test CA" -days 2 -out ca.pem 2>/dev/null &&
make_cert good IP:127.0.0.1 &&
make_cert other DNS:other.example || {
	echo "Bail out! cannot make the certificates"
	exit 1
}
serve good
GOOD=$TLS_PORT
serve other
OTHER=$TLS_PORT

test_expect_success 'setup: an app' '
	mkdir -p src &&
	cp -R "$FIXTURES/manifests/good" src/app
'

test_expect_success 'the CA in ca_file: the https probe passes' '
	config trusted.yaml "https://127.0.0.1:$GOOD/healthz" ca.pem &&
	gitops_agent -c trusted.yaml check >out 2>err &&
	gitops_agent -c trusted.yaml sync web >out 2>err &&
	test_grep "\"status\":.*\"Succeeded\"" state/apps/web/last-sync.json &&
	test_grep "https://127.0.0.1:$GOOD/healthz answered 200" \
	    state/apps/web/last-sync.json
'

test_expect_success 'the CA unknown to the system: the probe fails, saying why' '
	config untrusted.yaml "https://127.0.0.1:$GOOD/healthz" &&
	test_expect_code 1 gitops_agent -c untrusted.yaml sync web \
	    >out 2>err &&
	test_grep "\"status\":.*\"Failed\"" state/apps/web/last-sync.json &&
	test_grep "TLS with https://127.0.0.1:$GOOD/healthz failed: .*certificate" \
	    state/apps/web/last-sync.json
'

test_expect_success 'a certificate for another name fails even with its CA trusted' '
	config othername.yaml "https://127.0.0.1:$OTHER/healthz" ca.pem &&
	test_expect_code 1 gitops_agent -c othername.yaml sync web \
	    >out 2>err &&
	test_grep "TLS with https://127.0.0.1:$OTHER/healthz failed: .*127.0.0.1" \
	    state/apps/web/last-sync.json
'

test_expect_success 'check refuses a probe URL of another scheme' '
	config bad.yaml "ftp://127.0.0.1:$GOOD/healthz" ca.pem &&
	test_must_fail gitops_agent -c bad.yaml check >out 2>err &&
	test_grep "must be http:// or https://" err
'

test_done
