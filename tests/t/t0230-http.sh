#!/bin/sh
# t0230-http: the HTTP server's limits and TLS, over loopback. TLS with a
# good pair answers HTTPS and never plain HTTP; the header limit, the
# idle timeout and the connection cap hold; every answer is JSON.
. "$TEST_SRCDIR/tests/lib.sh"

PORT=$(test_free_port)
AGENT="127.0.0.1:$PORT"
test_cleanup_pidfile "$TRASH/agent.pid"

start() { # CONFIG
	rm -f agent.pid
	(
		${VALGRIND:-} "$GITOPS_AGENT" -c "$1" serve >>agent.log 2>&1 &
		echo $! >agent.pid
	)
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

test_expect_success 'the connection cap: a third connection waits until one closes' '
	python3 -c "
import socket, sys, time
def hold():
    s = socket.create_connection((\"127.0.0.1\", $PORT))
    s.sendall(b\"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\")
    assert b\"200\" in s.recv(1000)
    return s
a, b = hold(), hold()          # two keep-alive connections, both counted
c = socket.create_connection((\"127.0.0.1\", $PORT))
c.sendall(b\"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\")
c.settimeout(0.5)
try:
    c.recv(1000)
    sys.exit(\"answered past the cap\")
except socket.timeout:
    pass
a.close()                      # one closes: the waiting one is served
c.settimeout(5)
assert b\"200\" in c.recv(1000)
" &&
	curl -s "http://$AGENT/metrics" >metrics &&
	test_grep "^gitops_http_connections" metrics
'

test_expect_success 'stop: SIGTERM exits' '
	stop
'

test_done
