#!/bin/sh
# t0230-http: the HTTP server's limits and TLS, over loopback. TLS with a
# good pair answers HTTPS and never plain HTTP; the header limit, the
# idle timeout and the connection cap hold; every answer is JSON. Under
# floods (idle keep-alive connections, one busy address, slow senders,
# no descriptors left) a new client is still served.
. "$TEST_SRCDIR/tests/lib.sh"

PORT=$(test_free_port)
AGENT="127.0.0.1:$PORT"
test_cleanup_pidfile "$TRASH/agent.pid"

start() { # CONFIG [ULIMIT_N]
	rm -f agent.pid
	(
		test -z "${2:-}" || ulimit -n "$2"
		${VALGRIND:-} "$GITOPS_AGENT" -c "$1" serve >>agent.log 2>&1 &
		echo $! >agent.pid
	)
}
config() { # FILE OPTION...
	f=$1 && shift &&
	printf "listen: %s\nstate_dir: ./state\n" "$AGENT" >"$f" &&
	for o; do printf "%s\n" "$o" >>"$f"; done
}
stop() {
	pid=$(cat agent.pid) && kill -TERM "$pid" &&
	test_wait_for 300 sh -c "! kill -0 $pid 2>/dev/null"
}

test_expect_success 'setup: a self-signed certificate for 127.0.0.1' '
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	    -addext subjectAltName=IP:127.0.0.1 \
	    -keyout key.pem -out cert.pem 2>/dev/null &&
	chmod 600 key.pem &&
	printf "listen: %s\nstate_dir: ./state\ntls_cert_file: cert.pem\ntls_key_file: key.pem\n" \
	    "$AGENT" >tls.yaml &&
	printf "listen: %s\nstate_dir: ./state\nhttp_timeout: 1s\nhttp_max_connections: 2\nhttp_max_headers: 2048\n" \
	    "$AGENT" >plain.yaml
'

test_expect_success 'TLS: HTTPS answers, plain HTTP on the same port does not' '
	start tls.yaml &&
	test_wait_for 600 curl -sf --cacert cert.pem "https://$AGENT/healthz" &&
	curl -sf --cacert cert.pem "https://$AGENT/api/v1/apps" >apps &&
	test "$(cat apps)" = "[]" &&
	! curl -s --max-time 3 "http://$AGENT/healthz" >plain &&
	! grep -q ok plain &&
	stop
'

test_expect_success 'a configuration with only one half of the TLS pair is an error' '
	printf "listen: %s\ntls_cert_file: cert.pem\n" "$AGENT" >half.yaml &&
	test_expect_code 1 gitops_agent -c half.yaml check >out 2>&1 &&
	test_grep "TLS needs both" out
'

test_expect_success 'headers past http_max_headers are refused' '
	start plain.yaml &&
	test_wait_for 600 curl -sf "http://$AGENT/healthz" &&
	big=$(head -c 4000 /dev/zero | tr "\0" a) &&
	code=$(curl -s -o /dev/null -w "%{http_code}" -H "X-Big: $big" "http://$AGENT/healthz") &&
	test "$code" = 400 -o "$code" = 431 -o "$code" = 413
'

test_expect_success 'an idle connection is closed after http_timeout' '
	python3 -c "
import socket, sys, time
s = socket.create_connection((\"127.0.0.1\", $PORT))
s.sendall(b\"GET /healthz HTTP/1.1\r\nHost: x\r\n\")   # never finished
s.settimeout(5)
t = time.monotonic()
data = s.recv(100)
elapsed = time.monotonic() - t
print(elapsed)
sys.exit(0 if 0.5 < elapsed < 4 else 1)
"
'

test_expect_success 'the connection cap: a third client is served, the oldest idle one closed' '
	python3 -c "
import socket, sys
def hold():
    s = socket.create_connection((\"127.0.0.1\", $PORT))
    s.sendall(b\"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\")
    assert b\"200\" in s.recv(1000)
    return s
a, b = hold(), hold()          # two keep-alive connections, both counted
c = hold()                     # served at once: a gives way
a.settimeout(5)
assert a.recv(1000) == b\"\", \"the oldest idle connection is open\"
" &&
	curl -s "http://$AGENT/metrics" >metrics &&
	test_grep "^gitops_http_connections" metrics &&
	test_grep "^gitops_http_connections_closed_total{reason=\"evicted\"}" metrics
'

test_expect_success 'a slow header sender is cut at http_timeout from its accept' '
	python3 -c "
import select, socket, sys, time
s = socket.create_connection((\"127.0.0.1\", $PORT))
s.sendall(b\"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: \")
for i in range(60):            # 12 s at most; the deadline is 1 s
    try:
        s.sendall(b\"a\")
    except OSError:
        sys.exit(0)
    if select.select([s], [], [], 0.2)[0]:
        try:
            data = s.recv(100)
        except OSError:
            sys.exit(0)
        sys.exit(0 if data == b\"\" else \"answered: %r\" % data)
sys.exit(\"still open after 60 bytes\")
" &&
	curl -s "http://$AGENT/metrics" >metrics &&
	test_grep "^gitops_http_connections_closed_total{reason=\"deadline\"}" metrics
'

test_expect_success 'stop: SIGTERM exits' '
	stop
'

test_expect_success 'at the cap of idle keep-alive connections, /healthz is answered' '
	config cap.yaml "http_timeout: 60s" "http_max_connections: 8" \
	    "http_max_connections_per_client: 64" &&
	start cap.yaml &&
	test_wait_for 600 curl -sf "http://$AGENT/healthz" &&
	python3 -c "
import socket, subprocess, sys
held = []
for i in range(8):             # the cap, all idle after one answer
    s = socket.create_connection((\"127.0.0.1\", $PORT))
    s.sendall(b\"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\")
    s.settimeout(10)
    assert b\"200\" in s.recv(1000)
    held.append(s)
out = subprocess.run([\"curl\", \"-s\", \"--max-time\", \"20\",
    \"http://$AGENT/healthz\"], capture_output=True).stdout
sys.exit(0 if out == b\"ok\n\" else \"not answered: %r\" % out)
" &&
	stop
'

test_expect_success 'one client address cannot take every connection' '
	config perclient.yaml "http_timeout: 60s" "http_max_connections: 8" \
	    "http_max_connections_per_client: 2" &&
	start perclient.yaml &&
	test_wait_for 600 curl -sf "http://$AGENT/healthz" &&
	python3 -c "
import socket, sys
a = socket.create_connection((\"127.0.0.1\", $PORT))
b = socket.create_connection((\"127.0.0.1\", $PORT))
c = socket.create_connection((\"127.0.0.1\", $PORT))
c.settimeout(10)               # a third from the address: closed at once
try:
    data = c.recv(100)
except ConnectionResetError:
    data = b\"\"
sys.exit(0 if data == b\"\" else \"served: %r\" % data)
" &&
	test_wait_for 100 curl -sf "http://$AGENT/healthz" &&
	curl -s "http://$AGENT/metrics" >metrics &&
	test_grep "^gitops_http_connections_closed_total{reason=\"per_client\"}" metrics &&
	stop
'

test_expect_success 'out of descriptors: accepting pauses, logs once a pause, recovers' '
	config fds.yaml "http_timeout: 60s" "http_max_connections: 4000" \
	    "http_max_connections_per_client: 4000" &&
	: >agent.log &&
	start fds.yaml 64 &&
	test_wait_for 600 curl -sf "http://$AGENT/healthz" &&
	python3 -c "
import socket, time
held = []
for i in range(150):           # past the 64 descriptors it has
    try:
        held.append(socket.create_connection((\"127.0.0.1\", $PORT),
            timeout=0.5))
    except OSError:
        pass
time.sleep(3)                  # the flood lasts: accept keeps failing
" &&
	test_wait_for 300 curl -sf "http://$AGENT/healthz" &&
	n=$(grep -c "Too many open files" agent.log) &&
	echo "EMFILE lines: $n" &&
	test "$n" -ge 1 && test "$n" -le 100 &&
	stop
'

test_expect_success 'SIGTERM ends a health probe of a hung service at once' '
	test_hang_server "$TRASH/hang.log" &&
	mkdir -p src/app &&
	cat >src/app/config.yaml <<-EOF &&
	apiVersion: v1
	kind: ConfigMap
	metadata:
	  name: web
	  namespace: default
	data:
	  a: "1"
	EOF
	cat >probe.yaml <<-EOF &&
	listen: $AGENT
	state_dir: ./state
	shutdown_timeout: 120s
	repositories:
	  - name: local
	    directory: ./src
	    poll_interval: 10m
	apps:
	  - name: web
	    repository: local
	    path: app
	    target: {type: directory, path: ./live}
	    sync_timeout: 120s
	    health:
	      - name: hung
	        type: http
	        url: http://127.0.0.1:$HANG_PORT/healthz
	        timeout: 100s
	EOF
	: >agent.log &&
	start probe.yaml &&
	test_wait_for 600 curl -sf "http://$AGENT/healthz" &&
	# One accept was the readiness check: the second is the probe.
	test_wait_for 600 sh -c "test \$(wc -l <hang.log) -ge 2" &&
	pid=$(cat agent.pid) && kill -TERM "$pid" &&
	# The probe would wait 100 s, the shutdown 120 s: the agent is gone
	# long before either.
	test_wait_for 300 sh -c "! kill -0 $pid 2>/dev/null" &&
	test_grep "hung.*stopped: the agent is shutting down" agent.log &&
	test_grep -v "reverted=" agent.log
'

test_done
