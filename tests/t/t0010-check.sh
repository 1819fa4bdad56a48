#!/bin/sh
# t0010-check: `gitops-agent -c FILE check` accepts good configuration
# files with "configuration OK" and rejects bad ones with every error,
# each "FILE:LINE:COLUMN: message", on stderr and exit status 1.
#
# The fixtures are tests/fixtures/config/*.yaml; each bad-NAME.yaml with
# a bad-NAME.expect holds exactly what check must print.
. "$TEST_SRCDIR/tests/lib.sh"

CONFIGS="$FIXTURES/config"
cp "$CONFIGS"/*.yaml "$CONFIGS"/*.expect . || exit 1
# The secrets good-example.yaml names: check reads them as serve does.
mkdir -p some/dir &&
    printf 'secret\n' >webhook.secret && chmod 600 webhook.secret &&
    cp webhook.secret some/dir/ || exit 1
SHOP_WEBHOOK_SECRET=shop-secret
export SHOP_WEBHOOK_SECRET

for good in good-example good-minimal good-empty; do
	test_expect_success "check accepts $good.yaml" "
		gitops_agent -c $good.yaml check >out 2>err &&
		echo 'configuration OK' >expect &&
		test_cmp expect out &&
		test_cmp /dev/null err
	"
done

test_expect_success 'check resolves the file from another directory' '
	mkdir -p some/dir elsewhere &&
	cp good-example.yaml some/dir/gitops-agent.yaml &&
	(cd elsewhere &&
	    gitops_agent -c ../some/dir/gitops-agent.yaml check >../out) &&
	echo "configuration OK" >expect &&
	test_cmp expect out
'

test_expect_success 'check reads ./gitops-agent.yaml by default' '
	mkdir -p default &&
	cp good-minimal.yaml default/gitops-agent.yaml &&
	(cd default && gitops_agent check >../out) &&
	echo "configuration OK" >expect &&
	test_cmp expect out
'

for expect in bad-*.expect; do
	bad=${expect%.expect}
	test_expect_success "check reports every error of $bad.yaml" "
		test_expect_code 1 gitops_agent -c $bad.yaml check \
		    >out 2>err &&
		test_cmp /dev/null out &&
		test_cmp $expect err
	"
done

test_expect_success 'check reports a YAML syntax error with its position' '
	test_expect_code 1 gitops_agent -c bad-syntax.yaml check >out 2>err &&
	test_cmp /dev/null out &&
	test_grep "^bad-syntax.yaml:5:4: " err &&
	test "$(wc -l <err)" -eq 1
'

test_expect_success 'check reports a dependency cycle by name, where it starts' '
	test_expect_code 1 gitops_agent -c bad-cycle.yaml check >out 2>err &&
	test_cmp /dev/null out &&
	echo "bad-cycle.yaml:6:5: dependency cycle: checkout -> payments -> checkout" >expect &&
	test_cmp expect err
'

test_expect_success 'check names a missing file' '
	test_expect_code 1 gitops_agent -c missing.yaml check >out 2>err &&
	test_cmp /dev/null out &&
	test_grep "missing.yaml" err &&
	test_grep "No such file or directory" err
'

test_expect_success 'check never prints a webhook secret' '
	mkdir -p secret &&
	printf "%s\n" "s3cr3t-value-1234" >secret/webhook.secret &&
	chmod 600 secret/webhook.secret &&
	cat >secret/gitops-agent.yaml <<-\EOF &&
	repositories:
	  - name: infra
	    directory: ./infra
	    webhook_secret_file: ./webhook.secret
	    poll_interval: 1s
	EOF
	test_expect_code 1 gitops_agent -c secret/gitops-agent.yaml check \
	    >out 2>err &&
	test_grep "poll_interval" err &&
	test_grep -v "s3cr3t" err &&
	test_grep -v "s3cr3t" out
'

test_expect_success 'check fails on a missing or empty secret, warns on an open one' '
	mkdir -p sec/infra &&
	cat >sec/gitops-agent.yaml <<-\EOF &&
	api_token_file: ./api.token
	repositories:
	  - name: infra
	    directory: ./infra
	    webhook_secret_file: ./webhook.secret
	apps:
	  - name: a
	    repository: infra
	    path: .
	    target: {type: directory, path: ./live}
	EOF
	test_expect_code 1 gitops_agent -c sec/gitops-agent.yaml check >out 2>err &&
	test_grep "api_token: .*api.token.*No such file" err &&
	test_grep "repository .infra.: webhook secret: .*webhook.secret.*No such file" err &&
	: >sec/webhook.secret && chmod 600 sec/webhook.secret &&
	printf "tok\n" >sec/api.token && chmod 600 sec/api.token &&
	test_expect_code 1 gitops_agent -c sec/gitops-agent.yaml check >out 2>err &&
	test_grep "webhook secret: secret file .*webhook.secret. is empty" err &&
	test_grep -v "api_token" err &&
	printf "\n  \r\n\n" >sec/webhook.secret &&
	test_expect_code 1 gitops_agent -c sec/gitops-agent.yaml check >out 2>err &&
	test_grep "webhook secret: secret file .*webhook.secret. holds no secret: only blank lines" err &&
	printf "s3cr3t\n" >sec/webhook.secret && chmod 644 sec/webhook.secret &&
	gitops_agent -c sec/gitops-agent.yaml check >out 2>err &&
	test_grep "configuration OK" out &&
	test_grep "secret file is open to group or others; chmod 600 it" err &&
	test_grep -v "s3cr3t" err &&
	chmod 600 sec/webhook.secret &&
	sed -i "1i tls_cert_file: ./tls.crt\ntls_key_file: ./tls.key" sec/gitops-agent.yaml &&
	test_expect_code 1 gitops_agent -c sec/gitops-agent.yaml check >out 2>err &&
	test_grep "tls_cert_file .*tls.crt.*No such file" err &&
	test_grep "tls_key_file .*tls.key.*No such file" err
'

test_done
