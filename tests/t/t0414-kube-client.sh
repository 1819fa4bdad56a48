#!/bin/sh
# t0414-kube-client: how the agent reaches a cluster, against the API
# double: an exec credential plugin told the cluster (provideClusterInfo)
# and run again when the server answers 401, and a kubeconfig's proxy-url
# honoured through a real HTTP CONNECT proxy on loopback (the tunnel the
# TLS to the API server goes through), which the environment's NO_PROXY
# does not bypass.
. "$TEST_SRCDIR/tests/lib.sh"

test_kube_prereq
K="$TRASH/kube"
test_cleanup_pidfile "$K/pid"
test_cleanup_pidfile "$TRASH/proxy.pid"
kc() {
	KUBECONFIG="$K/kubeconfig" kubectl --request-timeout=30s "$@"
}

# write_kubeconfig FILE [CLUSTER-LINE...]: the double's server and CA, the
# exec plugin as the user (it hands out the double's bearer token).
write_kubeconfig() {
	f=$1 && shift &&
	{
		echo "apiVersion: v1"
		echo "kind: Config"
		echo "clusters:"
		echo "- name: double"
		echo "  cluster:"
		echo "    server: $(cat "$K/url")"
		echo "    certificate-authority: $K/ca.crt"
		for line in "$@"; do echo "    $line"; done
		echo "users:"
		echo "- name: plugin"
		echo "  user:"
		echo "    exec:"
		echo "      apiVersion: client.authentication.k8s.io/v1"
		echo "      command: $TRASH/plugin"
		echo "      provideClusterInfo: true"
		echo "      interactiveMode: Never"
		echo "contexts:"
		echo "- name: double"
		echo "  context: {cluster: double, user: plugin}"
		echo "current-context: double"
	} >"$f"
}

write_config() { # KUBECONFIG FILE: the app "one" through that kubeconfig
	cat >"$2.yaml" <<-EOF
	state_dir: ./state
	repositories:
	  - name: local
	    directory: .
	apps:
	  - name: one
	    repository: local
	    path: app
	    target:
	      type: kubernetes
	      kubeconfig: $1
	      namespace: default
	      request_timeout: 10s
	EOF
}

test_expect_success KUBE 'setup: the double, an exec plugin, an app' '
	test_kube_double "$K" &&
	sed -n "s/^ *token: //p" "$K/token.kubeconfig" >token &&
	test -s token &&
	cat >plugin <<-EOF &&
	#!/bin/sh
	n=\$(cat "$TRASH/runs" 2>/dev/null || echo 0)
	echo \$((n + 1)) >"$TRASH/runs"
	printf "%s" "\$KUBERNETES_EXEC_INFO" >"$TRASH/exec-info.json"
	printf "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\"}}" "\$(cat "$TRASH/token")"
	EOF
	chmod +x plugin &&
	mkdir app &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {A: \"1\"}\n" >app/cm.yaml
'

test_expect_success KUBE 'an exec plugin is told the cluster and its token is used' '
	write_kubeconfig plugin.kubeconfig &&
	write_config "$TRASH/plugin.kubeconfig" one &&
	gitops_agent -c one.yaml sync one &&
	test "$(cat runs)" = 1 &&
	python3 - "$(cat "$K/url")" <<-\PY &&
	import base64, json, sys
	info = json.load(open("exec-info.json"))
	assert info["kind"] == "ExecCredential", info
	cluster = info["spec"]["cluster"]
	assert cluster["server"] == sys.argv[1], cluster
	ca = base64.b64decode(cluster["certificate-authority-data"])
	assert ca == open("kube/ca.crt", "rb").read()
	assert info["spec"]["interactive"] is False
	PY
	kc get configmap settings -o jsonpath="{.data.A}" >v &&
	test "$(cat v)" = 1
'

test_expect_success KUBE 'a 401 runs the plugin again, once, and the sync goes on' '
	rm -f runs &&
	test_kube_admin "$K" POST faults \
	    "{\"verb\": \"*\", \"path\": \"/api/**\", \"status\": 401, \"count\": 1}" &&
	sed -i "s/\"1\"/\"2\"/" app/cm.yaml &&
	gitops_agent -c one.yaml sync one &&
	test "$(cat runs)" = 2 &&
	kc get configmap settings -o jsonpath="{.data.A}" >v &&
	test "$(cat v)" = 2
'

test_expect_success KUBE 'proxy-url: the API server is reached through the proxy' '
	python3 "$TEST_SRCDIR/tests/connect-proxy.py" proxy.port proxy.log &
	echo $! >proxy.pid &&
	test_wait_for 300 test -s proxy.port &&
	write_kubeconfig proxied.kubeconfig \
	    "proxy-url: http://127.0.0.1:$(cat proxy.port)" &&
	write_config "$TRASH/proxied.kubeconfig" two &&
	sed -i "s/\"2\"/\"3\"/" app/cm.yaml &&
	NO_PROXY="*" no_proxy="*" gitops_agent -c two.yaml sync one &&
	hostport=$(sed "s|https://||" "$K/url") &&
	test_grep "^CONNECT $hostport " proxy.log &&
	kc get configmap settings -o jsonpath="{.data.A}" >v &&
	test "$(cat v)" = 3 &&
	python3 -c "import json; print(json.load(open(\"exec-info.json\"))[\"spec\"][\"cluster\"][\"proxy-url\"])" >v &&
	test "$(cat v)" = "http://127.0.0.1:$(cat proxy.port)"
'

test_expect_success KUBE 'a proxy that is down fails the sync, applying nothing' '
	kill "$(cat proxy.pid)" &&
	test_wait_for 100 sh -c "! kill -0 $(cat proxy.pid) 2>/dev/null" &&
	sed -i "s/\"3\"/\"4\"/" app/cm.yaml &&
	test_must_fail gitops_agent -c two.yaml sync one 2>err &&
	kc get configmap settings -o jsonpath="{.data.A}" >v &&
	test "$(cat v)" = 3
'

test_expect_success 'a proxy-url of another scheme is refused by check' '
	cat >bad.kubeconfig <<-EOF &&
	apiVersion: v1
	kind: Config
	clusters:
	- name: c
	  cluster: {server: "https://127.0.0.1:1", proxy-url: "ftp://127.0.0.1:21"}
	contexts:
	- name: c
	  context: {cluster: c}
	current-context: c
	EOF
	write_config "$TRASH/bad.kubeconfig" three &&
	test_must_fail gitops_agent -c three.yaml sync one 2>err &&
	test_grep "proxy-url must be an http://, https:// or socks5:// URL" err
'

test_done
