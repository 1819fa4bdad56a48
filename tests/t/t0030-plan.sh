#!/bin/sh
# t0030-plan: `gitops-agent plan --path DIR`: the order of a sync as a
# table and as JSON (DESIGN.md section 3), on the fixtures in
# tests/fixtures/plan/.
. "$TEST_SRCDIR/tests/lib.sh"

PLAN="$FIXTURES/plan"

# mixed: every phase, waves -2 to 3, known and unknown kinds, a Namespace
# dragged into PreSync by a hook, a CRD dragged to its first Rollout, a
# Skip hook, a Secret, and files in YAML, .yml and JSON.
cat >expect-mixed <<'EOF'
PHASE     WAVE  KIND                      NAMESPACE  NAME                  NOTE
PreSync   0     Namespace                 -          shop                  moved from Sync wave 0
PreSync   0     Job                       shop       db-migrate            hook

Sync      -2    CustomResourceDefinition  -          rollouts.argoproj.io  moved from Sync wave 0
Sync      -2    Rollout                   shop       checkout-canary

Sync      -1    Secret                    shop       checkout-db
Sync      -1    ConfigMap                 shop       checkout-config

Sync      1     Service                   shop       checkout
Sync      1     Deployment                shop       checkout
Sync      1     Certificate               shop       checkout-tls
Sync      1     ServiceMonitor            shop       checkout

PostSync  3     Job                       shop       smoke-test            hook

SyncFail  0     Job                       shop       page-oncall           hook
EOF

test_expect_success 'plan --path prints phases, waves and kinds in order' '
	gitops_agent plan --path "$PLAN/mixed" >out 2>err &&
	test_cmp expect-mixed out &&
	! test -s err
'

test_expect_success 'plan --output table is the default' '
	gitops_agent plan --path "$PLAN/mixed" --output table >out &&
	test_cmp expect-mixed out
'

test_expect_success 'plan does not depend on file names or order' '
	mkdir shuffled &&
	cp "$PLAN/mixed/hooks.yaml" shuffled/a.yaml &&
	cp "$PLAN/mixed/monitoring.json" shuffled/b.json &&
	cp "$PLAN/mixed/app.yaml" shuffled/c.yaml &&
	cp "$PLAN/mixed/certificate.yml" shuffled/d.yml &&
	cp "$PLAN/mixed/config.yaml" shuffled/e.yaml &&
	cp "$PLAN/mixed/rollout.yaml" shuffled/f.yaml &&
	cp "$PLAN/mixed/crd.yaml" shuffled/g.yaml &&
	mkdir shuffled/nested &&
	cp "$PLAN/mixed/namespace.yaml" shuffled/nested/z.yaml &&
	gitops_agent plan --path shuffled >out &&
	test_cmp expect-mixed out
'

test_expect_success 'a Namespace moves to the wave of the first resource in it' '
	cat >expect <<-EOF &&
	PHASE  WAVE  KIND            NAMESPACE  NAME              NOTE
	Sync   -2    Namespace       -          payments          moved from Sync wave 5
	Sync   -2    ServiceAccount  payments   payments-service

	Sync   0     Deployment      payments   payments-service
	EOF
	gitops_agent plan --path "$PLAN/namespace-wave" >out &&
	test_cmp expect out
'

test_expect_success 'plan never prints Secret values' '
	gitops_agent plan --path "$PLAN/mixed" >table &&
	gitops_agent plan --path "$PLAN/mixed" --output json >json &&
	test_grep checkout-db table &&
	test_grep -v hunter2 table &&
	test_grep -v hunter2 json
'

test_expect_success 'a Skip hook is left out of the plan' '
	gitops_agent plan --path "$PLAN/mixed" >table &&
	gitops_agent plan --path "$PLAN/mixed" --output json >json &&
	test_grep -v never-applied table &&
	test_grep -v never-applied json
'

# The JSON read back with python3 (lib.sh already needs it).
cat >check-json.py <<'EOF'
import json, sys

plan = json.load(sys.stdin)
assert sorted(plan) == ["steps", "syncFail"], sorted(plan)
got = [(s["phase"], s["wave"], [r["kind"] + "/" + r["name"]
        for r in s["resources"]]) for s in plan["steps"]]
want = [
    ("PreSync", 0, ["Namespace/shop", "Job/db-migrate"]),
    ("Sync", -2, ["CustomResourceDefinition/rollouts.argoproj.io",
                  "Rollout/checkout-canary"]),
    ("Sync", -1, ["Secret/checkout-db", "ConfigMap/checkout-config"]),
    ("Sync", 1, ["Service/checkout", "Deployment/checkout",
                 "Certificate/checkout-tls", "ServiceMonitor/checkout"]),
    ("PostSync", 3, ["Job/smoke-test"]),
]
assert got == want, got

ns, job = plan["steps"][0]["resources"]
assert ns["id"] == "Namespace/shop", ns
assert ns["namespace"] == "" and ns["apiVersion"] == "v1", ns
assert ns["movedFrom"] == {"phase": "Sync", "wave": 0}, ns
assert ns["hook"] is False, ns
assert ns["file"].endswith("namespace.yaml") and ns["line"] == 2, ns
assert job["id"] == "Job.batch/shop/db-migrate", job
assert job["hook"] is True and "movedFrom" not in job, job
assert job["file"].endswith("hooks.yaml") and job["line"] == 2, job

crd = plan["steps"][1]["resources"][0]
assert crd["movedFrom"] == {"phase": "Sync", "wave": 0}, crd

for s in plan["steps"]:
    for r in s["resources"]:
        assert set(["id", "apiVersion", "kind", "namespace", "name",
                    "file", "line", "hook"]) <= set(r), r

fail = plan["syncFail"]
assert [(r["kind"], r["name"], r["wave"], r["hook"]) for r in fail] == \
    [("Job", "page-oncall", 0, True)], fail
EOF

test_expect_success 'plan --output json has steps and syncFail in order' '
	gitops_agent plan --path "$PLAN/mixed" --output json >out &&
	python3 check-json.py <out
'

test_expect_success 'plan of a missing directory fails and names it' '
	! gitops_agent plan --path "$PLAN/no-such-dir" >out 2>err &&
	test_grep no-such-dir err
'

test_done
