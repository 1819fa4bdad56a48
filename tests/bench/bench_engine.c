/*
 * bench_engine.c: how fast and how big the desired-state engine is on a
 * large app: 10,000 resources in 100 files.
 *
 * It owns a scratch directory given on the command line: it writes the
 * manifests there, then measures, each in a fresh process so that one
 * measurement's peak RSS is not another's or the generator's:
 *   (a) load (manifest_load_dir through source_dir_new), plan_build and
 *       a full diff (sync_run with dry_run) against a directory target
 *       that already holds the same state: "load + plan + diff with no
 *       changes", targets < 300 ms and < 64 MB;
 *   (b) a first apply: load, plan and sync_run into an empty directory.
 * A measured child re-executes this program ("measure" mode), times its
 * work with clock_gettime and reports getrusage(RUSAGE_SELF).ru_maxrss on
 * a pipe. The "peer" mode times any other command on the same input the
 * same way, for comparison. Single-threaded; it never touches anything
 * outside the scratch directory, and it asserts nothing about time (it
 * prints figures; run-engine.sh runs it by hand or from `make bench`).
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gitops.h"

#define BENCH_FILES		100
#define BENCH_DOCS_PER_FILE	100
#define BENCH_RESOURCES		(BENCH_FILES * BENCH_DOCS_PER_FILE)
#define BENCH_NAMESPACES	10
#define BENCH_APP		"bench"
#define BENCH_MAX_RUNS		1000

#define TARGET_MS		300.0
#define TARGET_MB		64.0

#if defined(__SANITIZE_ADDRESS__)
#define BENCH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BENCH_SANITIZED 1
#endif
#endif
#ifndef BENCH_SANITIZED
#define BENCH_SANITIZED 0
#endif

/* One run of a measured child: phase times and its own peak RSS. */
struct sample {
	double	load_ms;
	double	plan_ms;
	double	sync_ms;
	double	work_ms;	/* load + plan + sync, inside the process */
	double	proc_ms;	/* fork to exit, seen by the parent */
	double	rss_mb;
};

static const char *self_path;
static long	   generated_bytes;

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr,
	    "usage: bench_engine [-n RUNS] DIR\n"
	    "       bench_engine generate DIR\n"
	    "       bench_engine measure diff|apply|floor MANIFESTS TARGET\n"
	    "       bench_engine peer [-n RUNS] LABEL -- COMMAND [ARG ...]\n");
	exit(2);
}

static double
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6);
}

static int
runs_parse(const char *s)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || n < 1 ||
	    n > BENCH_MAX_RUNS) {
		fprintf(stderr, "bench_engine: runs must be 1 to %d: '%s'\n",
		    BENCH_MAX_RUNS, s);
		exit(2);
	}
	return ((int)n);
}

static int
remove_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) == -1) {
		fprintf(stderr, "bench_engine: cannot remove '%s': %s\n",
		    path, strerror(errno));
		return (-1);
	}
	return (0);
}

/* rm -rf of a scratch path we created. */
static int
remove_tree(const char *path)
{
	struct stat	st;

	if (lstat(path, &st) == -1 && errno == ENOENT)
		return (0);
	return (nftw(path, remove_cb, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 :
	    -1);
}

/*
 * The scratch directory is wiped before a run: refuse one that holds
 * anything but an earlier run's files, so a mistyped argument cannot cost
 * a home directory.
 */
static int
scratch_check(const char *dir)
{
	struct stat	 st;
	DIR		*d;
	struct dirent	*de;
	char		*marker;
	int		 empty = 1, ours;

	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return (0);
		fprintf(stderr, "bench_engine: cannot read '%s': %s\n", dir,
		    strerror(errno));
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			empty = 0;
	}
	closedir(d);
	marker = path_join(dir, "peer-kustomize/kustomization.yaml");
	ours = stat(marker, &st) == 0;
	free(marker);
	if (!empty && !ours) {
		fprintf(stderr, "bench_engine: refusing to clear '%s': not "
		    "empty and not a benchmark scratch directory\n", dir);
		return (-1);
	}
	return (0);
}

/*
 * Generator: one "service" is a ConfigMap, a Service and a Deployment,
 * shaped like the example shop's (labels, annotations, probes, env,
 * resources), each 30 to 60 lines. Written a document at a time so the
 * parent stays small: its pages are inherited by every measured child.
 */
static void
gen_labels(FILE *f, unsigned int i, const char *indent)
{
	fprintf(f, "%sapp.kubernetes.io/name: svc-%05u\n", indent, i / 3);
	fprintf(f, "%sapp.kubernetes.io/component: %s\n", indent,
	    (i / 3) % 4 == 0 ? "frontend" : "backend");
	fprintf(f, "%sapp.kubernetes.io/part-of: bench-%u\n", indent,
	    (i / 3) % 17);
	fprintf(f, "%senvironment: staging\n", indent);
	fprintf(f, "%steam: team-%u\n", indent, (i / 3) % 23);
}

static void
gen_configmap(FILE *f, unsigned int i, const char *ns)
{
	unsigned int	k;

	fprintf(f, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
	    "  name: svc-%05u-config\n  namespace: %s\n  labels:\n",
	    i / 3, ns);
	gen_labels(f, i, "    ");
	fprintf(f, "  annotations:\n"
	    "    argocd.argoproj.io/sync-wave: \"0\"\n"
	    "    description: configuration of svc-%05u\n", i / 3);
	fprintf(f, "data:\n  LOG_LEVEL: info\n  HTTP_PORT: \"8080\"\n"
	    "  METRICS_PORT: \"9090\"\n  CACHE_TTL: 5m\n");
	for (k = 0; k < 10; k++) {
		fprintf(f, "  UPSTREAM_%u_URL: http://svc-%05u.%s.svc:80/"
		    "api/v%u\n", k, (i / 3 + k + 1) % (BENCH_RESOURCES / 3),
		    ns, k % 3 + 1);
	}
	fprintf(f, "  settings.json: |\n    {\"feature_flags\": "
	    "{\"new_prices\": %s, \"batch\": %u}, \"retries\": 3}\n",
	    i % 2 ? "true" : "false", i % 50);
}

static void
gen_service(FILE *f, unsigned int i, const char *ns)
{
	fprintf(f, "apiVersion: v1\nkind: Service\nmetadata:\n"
	    "  name: svc-%05u\n  namespace: %s\n  labels:\n", i / 3, ns);
	gen_labels(f, i, "    ");
	fprintf(f, "  annotations:\n"
	    "    argocd.argoproj.io/sync-wave: \"0\"\n"
	    "    prometheus.io/scrape: \"true\"\n"
	    "    prometheus.io/port: \"9090\"\n");
	fprintf(f, "spec:\n  type: ClusterIP\n  selector:\n"
	    "    app.kubernetes.io/name: svc-%05u\n"
	    "    environment: staging\n"
	    "  ports:\n"
	    "    - name: http\n      port: 80\n      targetPort: http\n"
	    "      protocol: TCP\n"
	    "    - name: metrics\n      port: 9090\n"
	    "      targetPort: metrics\n      protocol: TCP\n"
	    "  sessionAffinity: None\n", i / 3);
}

static void
gen_deployment(FILE *f, unsigned int i, const char *ns)
{
	fprintf(f, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
	    "  name: svc-%05u\n  namespace: %s\n  labels:\n", i / 3, ns);
	gen_labels(f, i, "    ");
	fprintf(f, "  annotations:\n"
	    "    argocd.argoproj.io/sync-wave: \"%u\"\n", 1 + (i / 3) % 3);
	fprintf(f, "spec:\n  replicas: %u\n  revisionHistoryLimit: 5\n"
	    "  selector:\n    matchLabels:\n"
	    "      app.kubernetes.io/name: svc-%05u\n"
	    "      environment: staging\n"
	    "  template:\n    metadata:\n      labels:\n",
	    2 + (i / 3) % 3, i / 3);
	gen_labels(f, i, "        ");
	fprintf(f, "    spec:\n      containers:\n"
	    "        - name: app\n"
	    "          image: ghcr.io/acme/svc-%05u:v1.%u.%u-%07x\n"
	    "          args: [\"--config=/etc/app/settings.json\"]\n"
	    "          ports:\n"
	    "            - {name: http, containerPort: 8080}\n"
	    "            - {name: metrics, containerPort: 9090}\n"
	    "          envFrom:\n"
	    "            - configMapRef:\n"
	    "                name: svc-%05u-config\n"
	    "          env:\n"
	    "            - name: POD_NAME\n"
	    "              valueFrom:\n"
	    "                fieldRef: {fieldPath: metadata.name}\n"
	    "            - name: GOMAXPROCS\n"
	    "              value: \"2\"\n"
	    "          readinessProbe:\n"
	    "            httpGet: {path: /healthz/ready, port: http}\n"
	    "            periodSeconds: 5\n"
	    "          livenessProbe:\n"
	    "            httpGet: {path: /healthz/live, port: http}\n"
	    "            initialDelaySeconds: 10\n"
	    "          resources:\n"
	    "            requests: {cpu: 100m, memory: 128Mi}\n"
	    "            limits: {memory: 256Mi}\n"
	    "          securityContext:\n"
	    "            allowPrivilegeEscalation: false\n"
	    "            readOnlyRootFilesystem: true\n",
	    i / 3, (i / 3) % 10, (i / 3) % 7, (i * 2654435761u) & 0xfffffff,
	    i / 3);
}

static int
generate(const char *dir)
{
	char		*mdir, *kdir, *path = NULL, *cause = NULL;
	FILE		*f, *k;
	unsigned int	 file, doc, i;
	char		 ns[32];

	mdir = path_join(dir, "manifests");
	kdir = path_join(dir, "peer-kustomize");
	if (file_mkdirs(mdir, 0755, &cause) == -1 ||
	    file_mkdirs(kdir, 0755, &cause) == -1) {
		fprintf(stderr, "bench_engine: %s\n", cause);
		free(cause);
		free(mdir);
		free(kdir);
		return (-1);
	}

	/* The same files, as one kustomization, for `kubectl kustomize`. */
	path = path_join(kdir, "kustomization.yaml");
	if ((k = fopen(path, "w")) == NULL) {
		fprintf(stderr, "bench_engine: cannot write '%s': %s\n",
		    path, strerror(errno));
		goto fail;
	}
	free(path);
	path = NULL;
	fprintf(k, "apiVersion: kustomize.config.k8s.io/v1beta1\n"
	    "kind: Kustomization\nresources:\n");

	for (file = 0; file < BENCH_FILES; file++) {
		xasprintf(&path, "%s/f%03u.yaml", mdir, file);
		if ((f = fopen(path, "w")) == NULL) {
			fprintf(stderr, "bench_engine: cannot write '%s': %s\n",
			    path, strerror(errno));
			fclose(k);
			goto fail;
		}
		free(path);
		path = NULL;
		fprintf(k, "  - ../manifests/f%03u.yaml\n", file);
		for (doc = 0; doc < BENCH_DOCS_PER_FILE; doc++) {
			i = file * BENCH_DOCS_PER_FILE + doc;
			snprintf(ns, sizeof ns, "bench-%u",
			    (i / 3) % BENCH_NAMESPACES);
			fprintf(f, "---\n# document %u of %s\n", doc,
			    "a generated app");
			switch (i % 3) {
			case 0:
				gen_configmap(f, i, ns);
				break;
			case 1:
				gen_service(f, i, ns);
				break;
			default:
				gen_deployment(f, i, ns);
				break;
			}
		}
		generated_bytes += ftell(f);
		if (fclose(f) != 0) {
			fprintf(stderr, "bench_engine: cannot write file %u: "
			    "%s\n", file, strerror(errno));
			fclose(k);
			goto fail;
		}
	}
	if (fclose(k) != 0) {
		fprintf(stderr, "bench_engine: cannot write the kustomization: "
		    "%s\n", strerror(errno));
		goto fail;
	}
	free(mdir);
	free(kdir);
	return (0);

fail:
	free(path);
	free(mdir);
	free(kdir);
	return (-1);
}

/*
 * The measured work, in a fresh process. mode "diff": load, plan, and a
 * dry-run sync against a target that already holds the same state (every
 * resource must come out unchanged); "apply": the same into an empty
 * target, for real (every resource must be created); "floor": nothing,
 * to show what a process of this program costs by itself. Prints one
 * line: load_ms plan_ms sync_ms rss_kb.
 */
static int
measure(const char *mode, const char *mdir, const char *tdir)
{
	struct source		*src = NULL;
	struct resource_set	*set = NULL;
	struct plan		*plan = NULL;
	struct target		*target = NULL;
	struct sync_result	*res = NULL;
	struct sync_opts	 so;
	struct rusage		 ru;
	char			*cause = NULL;
	double			 t0, t1, t2, t3;
	int			 dry_run, rc = -1;

	if (strcmp(mode, "floor") == 0) {
		t0 = t1 = t2 = t3 = 0;
		goto done;
	}
	if (strcmp(mode, "diff") == 0)
		dry_run = 1;
	else if (strcmp(mode, "apply") == 0)
		dry_run = 0;
	else
		usage();

	t0 = now_ms();
	src = source_dir_new(mdir);
	if (manifest_load_dir(src, "", NULL, &set, &cause) == -1)
		goto fail;
	t1 = now_ms();
	plan = plan_build(set);
	t2 = now_ms();
	target = target_dir_new(BENCH_APP, tdir);
	memset(&so, 0, sizeof so);
	so.dry_run = dry_run;
	so.prune = 1;
	if (sync_run(target, set, &so, &res, &cause) == -1)
		goto fail;
	t3 = now_ms();

	if (set->n != BENCH_RESOURCES) {
		xasprintf(&cause, "loaded %zu resources, not %d", set->n,
		    BENCH_RESOURCES);
		goto fail;
	}
	if (res->error != NULL) {
		xasprintf(&cause, "sync %s: %s", mode, res->error);
		goto fail;
	}
	if (dry_run && (res->unchanged != set->n || res->created != 0 ||
	    res->updated != 0 || res->pruned != 0)) {
		xasprintf(&cause, "diff against the synced target is not "
		    "empty: %zu unchanged, %zu to create, %zu to update, "
		    "%zu to prune", res->unchanged, res->created,
		    res->updated, res->pruned);
		goto fail;
	}
	if (!dry_run && (res->status != SYNC_SUCCEEDED ||
	    res->created != set->n)) {
		xasprintf(&cause, "first apply created %zu of %zu",
		    res->created, set->n);
		goto fail;
	}

done:
	if (getrusage(RUSAGE_SELF, &ru) == -1) {
		xasprintf(&cause, "getrusage: %s", strerror(errno));
		goto fail;
	}
	printf("%.3f %.3f %.3f %ld\n", t1 - t0, t2 - t1, t3 - t2,
	    (long)ru.ru_maxrss);
	rc = 0;

fail:
	if (rc == -1)
		fprintf(stderr, "bench_engine: measure %s: %s\n", mode,
		    cause != NULL ? cause : "failed");
	free(cause);
	sync_result_free(res);
	target_free(target);
	plan_free(plan);
	resource_set_free(set);
	source_free(src);
	return (rc);
}

/*
 * Run argv in a child, its stdout to a pipe (kept in out, if not NULL)
 * or /dev/null; fill in the process wall time and its peak RSS as
 * wait4() reports it. Returns the exit status, -1 if it did not exit.
 */
static int
run_child(char *const *argv, char *out, size_t outsize, double *proc_ms,
    long *rss_kb)
{
	struct rusage	ru;
	double		t0;
	pid_t		pid;
	ssize_t		r;
	size_t		len = 0;
	int		fd[2], status, devnull;

	if (pipe(fd) == -1) {
		fprintf(stderr, "bench_engine: pipe: %s\n", strerror(errno));
		return (-1);
	}
	fflush(stdout);
	t0 = now_ms();
	if ((pid = fork()) == -1) {
		fprintf(stderr, "bench_engine: fork: %s\n", strerror(errno));
		close(fd[0]);
		close(fd[1]);
		return (-1);
	}
	if (pid == 0) {
		close(fd[0]);
		if (out == NULL) {
			if ((devnull = open("/dev/null", O_WRONLY)) != -1)
				dup2(devnull, STDOUT_FILENO);
		} else
			dup2(fd[1], STDOUT_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "bench_engine: cannot run '%s': %s\n",
		    argv[0], strerror(errno));
		_exit(127);
	}
	close(fd[1]);
	for (;;) {
		if (out != NULL && len + 1 < outsize)
			r = read(fd[0], out + len, outsize - 1 - len);
		else {
			char	sink[512];

			r = read(fd[0], sink, sizeof sink);
		}
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (out != NULL && len + 1 < outsize)
			len += (size_t)r;
	}
	if (out != NULL)
		out[len] = '\0';
	close(fd[0]);
	while (wait4(pid, &status, 0, &ru) == -1) {
		if (errno != EINTR) {
			fprintf(stderr, "bench_engine: wait4: %s\n",
			    strerror(errno));
			return (-1);
		}
	}
	*proc_ms = now_ms() - t0;
	*rss_kb = ru.ru_maxrss;
	if (!WIFEXITED(status))
		return (-1);
	return (WEXITSTATUS(status));
}

static int
measure_child(const char *mode, const char *mdir, const char *tdir,
    struct sample *s)
{
	char *const	argv[] = { (char *)self_path, (char *)"measure",
			    (char *)mode, (char *)mdir, (char *)tdir, NULL };
	char		out[256];
	long		rss_kb, wait_rss;
	int		rc;

	rc = run_child(argv, out, sizeof out, &s->proc_ms, &wait_rss);
	if (rc != 0 || sscanf(out, "%lf %lf %lf %ld", &s->load_ms,
	    &s->plan_ms, &s->sync_ms, &rss_kb) != 4) {
		fprintf(stderr, "bench_engine: measure %s failed (exit %d)\n",
		    mode, rc);
		return (-1);
	}
	s->work_ms = s->load_ms + s->plan_ms + s->sync_ms;
	s->rss_mb = rss_kb / 1024.0;
	return (0);
}

static int
double_cmp(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

/* Median and maximum of one field of n samples. */
static void
stat_field(const struct sample *v, size_t n, size_t off, double *median,
    double *max)
{
	double	*d;
	size_t	 i;

	d = xreallocarray(NULL, n, sizeof *d);
	for (i = 0; i < n; i++)
		memcpy(&d[i], (const char *)&v[i] + off, sizeof d[i]);
	qsort(d, n, sizeof *d, double_cmp);
	*median = n % 2 ? d[n / 2] : (d[n / 2 - 1] + d[n / 2]) / 2;
	*max = d[n - 1];
	free(d);
}

static void
print_header(void)
{
	printf("%-44s %5s %19s %19s\n", "", "", "wall ms", "peak RSS MB");
	printf("%-44s %5s %9s %9s %9s %9s\n", "measurement", "runs",
	    "median", "max", "median", "max");
}

static void
print_row(const char *label, const struct sample *v, size_t n,
    size_t time_off, int with_rss)
{
	double	tmed, tmax, rmed, rmax;

	stat_field(v, n, time_off, &tmed, &tmax);
	if (!with_rss) {
		printf("%-44s %5zu %9.1f %9.1f\n", label, n, tmed, tmax);
		return;
	}
	stat_field(v, n, offsetof(struct sample, rss_mb), &rmed, &rmax);
	printf("%-44s %5zu %9.1f %9.1f %9.1f %9.1f\n", label, n, tmed, tmax,
	    rmed, rmax);
}

static int
run_all(const char *dir, int runs)
{
	struct sample	*diff, *apply, *floor_;
	char		*mdir, *synced, *fresh, *cause = NULL;
	double		 tmed, tmax, rmed, rmax;
	int		 i, rc = -1;

	diff = xcalloc(runs, sizeof *diff);
	apply = xcalloc(runs, sizeof *apply);
	floor_ = xcalloc(runs, sizeof *floor_);
	mdir = path_join(dir, "manifests");
	synced = path_join(dir, "live-synced");
	fresh = path_join(dir, "live-fresh");

	if (scratch_check(dir) == -1)
		goto fail;
	if (remove_tree(dir) == -1 || file_mkdirs(dir, 0755, &cause) == -1)
		goto fail;
	if (generate(dir) == -1)
		goto fail;

	/* The state the no-change diff runs against: one untimed apply. */
	if (file_mkdirs(synced, 0755, &cause) == -1)
		goto fail;
	if (measure_child("apply", mdir, synced, &apply[0]) == -1)
		goto fail;

	for (i = 0; i < runs; i++) {
		if (measure_child("floor", mdir, synced, &floor_[i]) == -1)
			goto fail;
		if (measure_child("diff", mdir, synced, &diff[i]) == -1)
			goto fail;
		if (remove_tree(fresh) == -1 ||
		    file_mkdirs(fresh, 0755, &cause) == -1)
			goto fail;
		if (measure_child("apply", mdir, fresh, &apply[i]) == -1)
			goto fail;
	}
	if (remove_tree(fresh) == -1)
		goto fail;

	printf("engine benchmark: %d resources (ConfigMap, Service, "
	    "Deployment) in %d files, %d runs each\n", BENCH_RESOURCES,
	    BENCH_FILES, runs);
	printf("input: %.1f MB of YAML in %s\n", generated_bytes / 1e6, mdir);
	if (BENCH_SANITIZED)
		printf("warning: built with AddressSanitizer: times and RSS "
		    "are inflated; configure without --enable-sanitizers "
		    "for figures\n");
	printf("engine rows time the calls inside the process; RSS is "
	    "getrusage(RUSAGE_SELF) of a fresh process per run\n\n");
	print_header();
	print_row("(a) load + plan + diff, no changes", diff, runs,
	    offsetof(struct sample, work_ms), 1);
	print_row("    load (manifest_load_dir)", diff, runs,
	    offsetof(struct sample, load_ms), 0);
	print_row("    plan (plan_build)", diff, runs,
	    offsetof(struct sample, plan_ms), 0);
	print_row("    diff (sync_run, dry run)", diff, runs,
	    offsetof(struct sample, sync_ms), 0);
	print_row("(b) first apply into an empty directory", apply, runs,
	    offsetof(struct sample, work_ms), 1);
	print_row("    load (manifest_load_dir)", apply, runs,
	    offsetof(struct sample, load_ms), 0);
	print_row("    plan (plan_build)", apply, runs,
	    offsetof(struct sample, plan_ms), 0);
	print_row("    apply (sync_run)", apply, runs,
	    offsetof(struct sample, sync_ms), 0);
	print_row("(a) as a whole process, fork to exit", diff, runs,
	    offsetof(struct sample, proc_ms), 0);
	print_row("floor: this program doing nothing", floor_, runs,
	    offsetof(struct sample, proc_ms), 1);

	stat_field(diff, runs, offsetof(struct sample, work_ms), &tmed,
	    &tmax);
	stat_field(diff, runs, offsetof(struct sample, rss_mb), &rmed,
	    &rmax);
	printf("\ntarget (a): < %.0f ms and < %.0f MB: median %.1f ms "
	    "(max %.1f), peak RSS %.1f MB (max %.1f): %s\n", TARGET_MS,
	    TARGET_MB, tmed, tmax, rmed, rmax,
	    tmed < TARGET_MS && rmax < TARGET_MB ? "met" : "MISSED");
	rc = 0;

fail:
	if (cause != NULL)
		fprintf(stderr, "bench_engine: %s\n", cause);
	free(cause);
	free(fresh);
	free(synced);
	free(mdir);
	free(diff);
	free(apply);
	free(floor_);
	return (rc);
}

/* Time another program on the same input, the same way. */
static int
run_peer(int runs, const char *label, char *const *argv)
{
	struct sample	*v;
	long		 rss_kb;
	int		 i, rc;

	v = xcalloc(runs, sizeof *v);
	for (i = 0; i < runs; i++) {
		rc = run_child(argv, NULL, 0, &v[i].proc_ms, &rss_kb);
		if (rc != 0) {
			printf("%-44s failed (exit %d)\n", label, rc);
			free(v);
			return (-1);
		}
		v[i].rss_mb = rss_kb / 1024.0;
	}
	print_row(label, v, runs, offsetof(struct sample, proc_ms), 1);
	free(v);
	return (0);
}

int
main(int argc, char **argv)
{
	static char	exe[PATH_MAX];
	ssize_t		len;
	int		runs = 5, i;

	if ((len = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) {
		exe[len] = '\0';
		self_path = exe;
	} else
		self_path = argv[0];
	log_init(LOG_LEVEL_WARN, stderr);

	if (argc == 3 && strcmp(argv[1], "generate") == 0)
		return (generate(argv[2]) == 0 ? 0 : 1);
	if (argc == 5 && strcmp(argv[1], "measure") == 0)
		return (measure(argv[2], argv[3], argv[4]) == 0 ? 0 : 1);
	if (argc >= 2 && strcmp(argv[1], "peer") == 0) {
		i = 2;
		if (argc > i + 1 && strcmp(argv[i], "-n") == 0) {
			runs = runs_parse(argv[i + 1]);
			i += 2;
		}
		if (argc < i + 3 || strcmp(argv[i + 1], "--") != 0)
			usage();
		return (run_peer(runs, argv[i], argv + i + 2) == 0 ? 0 : 1);
	}
	i = 1;
	if (argc > 2 && strcmp(argv[1], "-n") == 0) {
		runs = runs_parse(argv[2]);
		i = 3;
	}
	if (argc != i + 1)
		usage();
	return (run_all(argv[i], runs) == 0 ? 0 : 1);
}
