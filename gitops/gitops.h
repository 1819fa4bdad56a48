/*
 * gitops.h: the library that does the work of gitops-agent.
 *
 * Nothing here knows about libevent or HTTP. Each third-party library is
 * reached through one module only: cJSON through json.c, libyaml through
 * the yaml files, libgit2 through the git modules. Everything else uses
 * the API declared below.
 */
#ifndef GITOPS_H
#define GITOPS_H

#include <sys/types.h>
#include <sys/queue.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "compat.h"

#define GITOPS_VERSION PACKAGE_VERSION

/* Bounds on input we read: a manifest or config file, and alias expansion. */
#define YAML_MAX_FILE_SIZE	(8 * 1024 * 1024)
#define YAML_MAX_ALIAS_NODES	10000
#define YAML_MAX_DEPTH		128

struct lock;
struct json;
struct yaml_file;
struct source;
struct resource;
struct resource_set;
struct plan;
struct target;
struct config;
struct config_target;

/* log.c */
struct buf;
enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
};
void		 log_init(enum log_level, FILE *);
void		 log_set_level(enum log_level);
/*
 * log_event(LOG_LEVEL_INFO, "msg", "key", value, ..., NULL): a message,
 * then key/value pairs ended by NULL, written as one logfmt line. Keys are
 * literal identifiers ([a-z][a-z0-9_]*, checked: a bad one aborts); values
 * are any strings, bare when safe, else quoted and escaped; a NULL value
 * is written as -. Numbers through LOG_INT()/LOG_UINT(). log_event_errno
 * appends error=strerror(errno). fatal and fatalx take a printf message,
 * written as one quoted msg= value.
 */
void		 log_event(enum log_level, const char *, ...)
		     __attribute__((sentinel));
void		 log_event_errno(enum log_level, const char *, ...)
		     __attribute__((sentinel));
void		 log_format(struct buf *, const char *, const char *, va_list,
		     const char *);
void		 log_value(struct buf *, const char *);
const char	*log_int(char *, size_t, long long);
const char	*log_uint(char *, size_t, unsigned long long);
/* The buffer is a compound literal: it lives until the end of the call. */
#define LOG_INT(n)	log_int((char[24]){ 0 }, 24, (long long)(n))
#define LOG_UINT(n)	log_uint((char[24]){ 0 }, 24, (unsigned long long)(n))
__attribute__((noreturn)) void fatal(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void fatalx(const char *, ...)
		     __attribute__((format(printf, 1, 2)));

/* xmalloc.c: allocation that never returns NULL */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xrealloc(void *, size_t);
void		*xreallocarray(void *, size_t, size_t);
char		*xstrdup(const char *);
char		*xstrndup(const char *, size_t);
int		 xasprintf(char **, const char *, ...)
		     __attribute__((format(printf, 2, 3)));
int		 xvasprintf(char **, const char *, va_list)
		     __attribute__((format(printf, 2, 0)));
void		 freezero_string(char *);

/* util.c: strings, buffers, maps, files, durations */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 size;
};
void		 buf_init(struct buf *);
void		 buf_add(struct buf *, const void *, size_t);
void		 buf_adds(struct buf *, const char *);
void		 buf_addc(struct buf *, char);
void		 buf_printf(struct buf *, const char *, ...)
		     __attribute__((format(printf, 2, 3)));
char		*buf_release(struct buf *);	/* NUL-terminated, caller frees */
void		 buf_free(struct buf *);

/* An open-addressing map from strings to pointers; keys are copied. */
struct strmap;
struct strmap	*strmap_new(size_t);
void		 strmap_free(struct strmap *);
void		*strmap_get(const struct strmap *, const char *);
/* Returns the previous value, or NULL if the key was new. */
void		*strmap_put(struct strmap *, const char *, void *);
/* Remove a key; returns its value, or NULL if it was not there. */
void		*strmap_remove(struct strmap *, const char *);
size_t		 strmap_count(const struct strmap *);
/* Iterate: start with *cursor = 0; returns 0 when done. */
int		 strmap_next(const struct strmap *, size_t *, const char **,
		     void **);

/* A growable array of strings. */
struct strv {
	char	**v;
	size_t	  n;
};
void		 strv_add(struct strv *, const char *);
void		 strv_free(struct strv *);
int		 strv_contains(const struct strv *, const char *);
void		 strv_sort(struct strv *);

/* Append a message line to *cause (allocated), for collecting many errors. */
void		 cause_append(char **, const char *, ...)
		     __attribute__((format(printf, 2, 3)));

/* Read a whole file, refusing one larger than max bytes. */
int		 file_read(const char *, size_t, char **, size_t *, char **);
/*
 * The same from an open descriptor (display names it in messages): a
 * regular file of at most max bytes, NUL-terminated; *st if not NULL.
 */
struct stat;
int		 fd_read_all(int, const char *, size_t, char **, size_t *,
		     struct stat *, char **);
/*
 * Write a file so that a reader sees either the old or the new content:
 * temporary file in the same directory, fsync, rename, fsync of the
 * directory. Creates missing parent directories.
 */
int		 file_write_atomic(const char *, const void *, size_t, mode_t,
		     char **);
int		 file_mkdirs(const char *, mode_t, char **);
/*
 * For writing many files at once (see the directory target's commit):
 * file_write_temp writes a new temporary file beside path, creating
 * missing parent directories, without any sync, and gives its name
 * (allocated) for the caller to rename into place or unlink.
 * file_sync fsyncs a file by name, file_sync_dir a directory (making the
 * renames in it durable). file_syncfs flushes the whole file system
 * holding a directory: 0, -1, or 1 where the system has no such call.
 */
int		 file_write_temp(const char *, const void *, size_t, mode_t,
		     char **, char **);
/*
 * The name file_write_temp and file_write_atomic give a temporary file
 * (path.tmp.XXXXXX); file_is_temp says whether a name has that shape.
 */
#define FILE_TEMP_SUFFIX	".tmp.XXXXXX"
int		 file_is_temp(const char *);
int		 file_sync(const char *, char **);
int		 file_sync_dir(const char *, char **);
int		 file_syncfs(const char *, char **);
/* Join two paths with one '/' between; the result is allocated. */
char		*path_join(const char *, const char *);
/*
 * Normalise a relative '/'-separated path: drop "." and empty segments,
 * resolve "..". Returns NULL if it would leave the root.
 */
char		*path_normalize(const char *);
/* "30s", "5m", "1h30m", "250ms" -> milliseconds. */
int		 duration_parse(const char *, uint64_t *, char **);
/* Milliseconds -> shortest text duration_parse accepts. */
char		*duration_format(uint64_t);
/* Wall-clock and monotonic time in milliseconds. */
uint64_t	 time_now_ms(void);
/* Milliseconds since the epoch -> RFC 3339 UTC, to the second. */
#define TIME_FORMAT_LEN	21
void		 time_format(uint64_t, char *, size_t);
/*
 * UTF-8: whether len bytes are valid (no NUL, overlong form, surrogate or
 * code point past U+10FFFF), and a copy (NUL-terminated) with each byte
 * that is not part of a valid sequence replaced by U+FFFD.
 */
int		 utf8_valid(const char *, size_t);
char		*utf8_repair(const char *, size_t);
/* RFC 3339 date-time -> seconds since the epoch; -1 if it is not one. */
int		 time_parse_rfc3339(const char *, int64_t *);
uint64_t	 time_monotonic_ms(void);
void		 time_sleep_ms(uint64_t);
/* A string is a DNS-1123 subdomain (Kubernetes object names). */
int		 name_is_dns_subdomain(const char *);
/* A string is a DNS-1123 label (namespaces, most names). */
int		 name_is_dns_label(const char *);
/* Constant-time comparison of two byte strings. */
int		 timingsafe_equal(const void *, size_t, const void *, size_t);
/* SHA-256 of a buffer: 32 bytes. */
void		 sha256(const void *, size_t, unsigned char[32]);
/* SHA-256 of a buffer as 64 lower-case hex characters plus NUL. */
void		 sha256_hex(const void *, size_t, char[65]);
/* HMAC-SHA1 (known_hosts' hashed names); out holds 20 bytes. */
void		 hmac_sha1(const void *, size_t, const void *, size_t,
		     unsigned char[20]);
/* HMAC-SHA256 (webhook signatures); out holds 32 bytes. */
void		 hmac_sha256(const void *, size_t, const void *, size_t,
		     unsigned char[32]);
/* Standard base64 (padding optional on decode); allocated, -1 if bad. */
int		 base64_decode(const char *, size_t, unsigned char **,
		     size_t *);
char		*base64_encode(const void *, size_t);

/* json.c: the document tree every manifest is held in (wraps cJSON) */
enum json_type {
	JSON_INVALID,
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};
struct json	*json_new_object(void);
struct json	*json_new_array(void);
struct json	*json_new_string(const char *);
struct json	*json_new_stringn(const char *, size_t);
/* A string node that takes s (malloc'd; freed with the node). */
struct json	*json_new_string_owned(char *);
struct json	*json_new_number(double);
struct json	*json_new_bool(int);
struct json	*json_new_null(void);
void		 json_free(struct json *);
struct json	*json_dup(const struct json *);
enum json_type	 json_type(const struct json *);
const char	*json_type_name(enum json_type);
/* "a list", "a mapping", "null"...: for "must be X, not Y" messages. */
const char	*json_type_phrase(const struct json *);
/* The string of a string node, or NULL for any other node. */
const char	*json_string(const struct json *);
double		 json_number(const struct json *);
int		 json_is_true(const struct json *);
/* Children, in order; for an object's members json_key() is the name. */
struct json	*json_child(const struct json *);
struct json	*json_next(const struct json *);
const char	*json_key(const struct json *);
size_t		 json_count(const struct json *);
struct json	*json_array_get(const struct json *, size_t);
void		 json_array_append(struct json *, struct json *);
/* Case-sensitive member lookup. */
struct json	*json_get(const struct json *, const char *);
/* Walk members: json_path(obj, "metadata", "name", NULL). */
struct json	*json_path(const struct json *, ...)
		     __attribute__((sentinel));
/* The string at a path, or NULL if absent or not a string. */
const char	*json_path_string(const struct json *, ...)
		     __attribute__((sentinel));
/* Add or replace a member; takes ownership of the value. */
void		 json_set(struct json *, const char *, struct json *);
/* Add a member without checking for an existing one (parsers only). */
void		 json_append_member(struct json *, const char *,
		     struct json *);
/* The same, taking the key (malloc'd). */
void		 json_append_member_owned(struct json *, char *,
		     struct json *);
/*
 * The shared, never freed copy of a short member name (at most
 * JSON_INTERN_MAX_LEN bytes) or string value (JSON_INTERN_VALUE_MAX_LEN),
 * or NULL if too long or the bounded table is full. json_append_member*
 * and json_new_string* use them; the count of entries (of the value table
 * if the argument is not 0) is for tests.
 */
#define JSON_INTERN_MAX_LEN		64
#define JSON_INTERN_VALUE_MAX_LEN	16
const char	*json_intern(const char *, size_t);
const char	*json_intern_value(const char *, size_t);
size_t		 json_intern_count_get(int);
void		 json_remove(struct json *, const char *);
/* Detach a member and hand it to the caller. */
struct json	*json_detach(struct json *, const char *);
int		 json_equal(const struct json *, const struct json *);
/* Parse JSON text; cause says where it failed (line and column). */
struct json	*json_parse(const char *, size_t, char **);
/* Compact or indented JSON text; allocated. */
char		*json_print(const struct json *, int);

/*
 * yaml.c: YAML text to documents (with positions); yaml_emit.c: back to
 * text; yaml_edit.c: byte-preserving value edits
 */
#define YAML_ALLOW_EMPTY	0x1	/* an empty stream is not an error */
#define YAML_PLAIN_STRINGS	0x2	/* plain scalars other than null stay text */
/*
 * Log a warning (with FILE:LINE:COLUMN) for each plain scalar kubectl and
 * kustomize read differently: on, yes, y, off, no, n (a boolean to
 * kubectl) and dates (a timestamp rewritten by kustomize). Manifests.
 */
#define YAML_WARN_AMBIGUOUS	0x4
/*
 * Plain y, yes, on (true) and n, no, off (false), any case form YAML 1.1
 * has, are booleans: how kubectl and kustomize read a kustomization.
 */
#define YAML_BOOL11		0x8
struct yaml_doc {
	struct json	*root;	/* owned by the yaml_file until detached */
	int		 line;	/* 1-based position of the document's node */
	int		 column;
};
struct yaml_file {
	char		*name;	/* as given, used in messages */
	struct yaml_doc	*docs;
	size_t		 ndocs;
	struct yaml_posmap *pos;
};
/*
 * Parse a (multi-document) YAML or JSON stream into documents. Errors are
 * "NAME:LINE:COLUMN: message": syntax errors, duplicate keys, alias
 * expansion past YAML_MAX_ALIAS_NODES, nesting past YAML_MAX_DEPTH, non
 * scalar keys. Plain scalars resolve as in YAML 1.2's core schema (null,
 * true, false, floats; .inf and .nan stay strings; a number a double
 * cannot hold exactly is an error) but integers as Kubernetes' clients (go-yaml) read them: '_' ignored,
 * 0x, 0o, 0b, and a leading 0 for octal (010 is 8); quoted scalars and
 * keys are always strings. Merge keys ("<<: *base") are
 * honoured, explicit keys winning. Empty documents (only comments, or
 * "---" alone) are dropped; with no document left the stream is an error
 * ("NAME:1:1: no documents") unless flags has YAML_ALLOW_EMPTY.
 */
int		 yaml_parse(const char *, const char *, size_t, int,
		     struct yaml_file **, char **);
/*
 * Read and parse the file at path (first argument), refusing one past
 * YAML_MAX_FILE_SIZE; messages name it by the second argument (NULL: the
 * path).
 */
int		 yaml_parse_file(const char *, const char *, int,
		     struct yaml_file **, char **);
void		 yaml_file_free(struct yaml_file *);
/* Take a document's root out of the file (the file no longer frees it). */
struct json	*yaml_doc_detach(struct yaml_file *, size_t);
/*
 * Where a node of this file started, as 1-based line and column; returns
 * 1, or 0 (and 0, 0) if unknown. For an object member this is where its
 * KEY starts (what a message about the member wants); for a list item or
 * a root, where the node itself starts. Nodes copied by an alias or merge
 * key are placed at the alias. Positions are looked up by address: ask
 * only about nodes that came from this file and are still alive.
 */
int		 yaml_node_position(const struct yaml_file *,
		     const struct json *, int *, int *);
/* The same, but always where the node's own value starts. */
int		 yaml_value_position(const struct yaml_file *,
		     const struct json *, int *, int *);
/*
 * YAML text for one document, block style, two-space indent, keys in tree
 * order; strings are quoted when a plain scalar would read back as
 * something else. Never fails.
 */
char		*yaml_emit(const struct json *);
/*
 * Byte-preserving edits (version bumps). In the first document of the
 * text (first argument names it in messages), set the string at a path of
 * mapping keys (NULL-terminated) by splicing the new scalar into the
 * original bytes: comments, order, indentation and other values stay
 * byte-identical. The old scalar's quoting is kept when it can hold the
 * value (plain only if it reads back as the same string; else double
 * quotes). A missing key is added after its mapping's last entry as
 * `key: "value"` (missing mappings on the way too, two-space nested).
 * The result is parsed again and refused unless only that value changed.
 * Anchors and aliases on the path are refused. *out is allocated and
 * NUL-terminated (also when nothing changes: *changed 0, a copy).
 */
int		 yaml_edit_set(const char *, const char *, size_t,
		     const char *const *, const char *, char **, size_t *,
		     int *, char **);
/*
 * The same discipline for a kustomization's images list: in the entry
 * whose name is image (fourth argument) set newName, newTag and digest
 * where given (NULL: left alone; "": the key removed). A new tag without
 * a digest removes an old digest line (a digest wins over a tag). A missing entry is appended
 * as "- name: IMAGE" with the given keys; a missing images list is added
 * at the end of the document.
 */
int		 yaml_edit_image(const char *, const char *, size_t,
		     const char *, const char *, const char *, const char *,
		     char **, size_t *, int *, char **);

/* source.c: where manifests are read from (a directory; a git tree later) */
enum source_entry_type {
	SOURCE_NONE,
	SOURCE_FILE,
	SOURCE_DIR,
};
struct source_ops {
	/* Type of a path; SOURCE_NONE if it does not exist. */
	int	(*stat)(void *, const char *, enum source_entry_type *,
		    char **);
	/* Names in a directory, sorted bytewise; "." and ".." left out. */
	int	(*list)(void *, const char *, struct strv *, char **);
	int	(*read)(void *, const char *, size_t, char **, size_t *,
		    char **);
	/*
	 * A local directory holding the tree at path, for an external
	 * renderer; *cleanup is set when the caller must remove it.
	 */
	int	(*materialize)(void *, const char *, char **, int *,
		    char **);
	void	(*free)(void *);
};
struct source {
	const struct source_ops	*ops;
	void			*arg;
	char			*label;	/* for messages: a directory or URL@rev */
	char			*strip;	/* shown relative to it when below */
};
/* A source with these operations; label is copied, arg is owned. */
struct source	*source_new(const struct source_ops *, void *, const char *);
/*
 * A directory source: paths are relative to root and may not leave it,
 * neither through ".." nor through a symlink. Message paths are shown
 * relative to the current directory as given.
 */
struct source	*source_dir_new(const char *);
/*
 * The same, with messages showing paths below base (an absolute
 * directory, e.g. the current one) relative to it: for paths the user
 * typed on the command line.
 */
struct source	*source_dir_new_relative(const char *, const char *);
void		 source_free(struct source *);
int		 source_stat(struct source *, const char *,
		     enum source_entry_type *, char **);
int		 source_list(struct source *, const char *, struct strv *,
		     char **);
int		 source_read(struct source *, const char *, size_t, char **,
		     size_t *, char **);
/*
 * A local directory holding the tree at path (for kubectl kustomize);
 * when *cleanup is set the caller removes it after use.
 */
int		 source_materialize(struct source *, const char *, char **,
		     int *, char **);
/*
 * The path as shown in messages: label joined with the relative path (a
 * label of "." is left out).
 */
char		*source_display_path(struct source *, const char *);
/*
 * A source that reads through inner (borrowed: it must outlive the
 * recorder) and records in inputs
 * every path looked at: "f:PATH" for a file read or looked up, "d:PATH"
 * for a folder listed or materialized (its whole subtree).
 */
struct source	*source_record_new(struct source *, struct strv *);
/*
 * Whether any changed path (relative to the repository) is one of the
 * recorded inputs or below a recorded folder: a commit that touches none
 * renders the app exactly as before.
 */
int		 source_inputs_touched(const struct strv *,
		     const struct strv *);

/*
 * redact.c: a command's output made fit to show: secret-shaped values
 * masked ("***"), valid UTF-8 (allocated, NUL-terminated).
 */
char		*redact_output(const char *, size_t);

/* spawn.c: run an external command with an argv, never a shell */
struct spawn_result {
	int	 exited;	/* 1 if it exited, 0 if killed by a signal */
	int	 status;	/* exit status, or signal number */
	int	 timed_out;	/* killed at the deadline */
	int	 truncated;	/* output past the bound was dropped */
	int	 stopped;	/* killed because *opts->stop was set */
	char	*out;		/* stdout, NUL-terminated */
	size_t	 outlen;
	char	*err;		/* stderr, NUL-terminated */
	size_t	 errlen;
};
struct spawn_opts {
	const char	*cwd;		/* NULL: inherit */
	char *const	*envp;		/* NULL: inherit */
	uint64_t	 timeout_ms;	/* 0: none */
	size_t		 max_output;	/* per stream; 0: 1 MiB */
	const char	*input;		/* written to stdin; NULL: /dev/null */
	size_t		 inputlen;
	/*
	 * Set (non-zero, by another thread, as struct sync_opts' stop): the
	 * child gets SIGTERM within STOP_POLL_MS, SIGKILL STOP_POLL_MS
	 * later (result: stopped); NULL: never.
	 */
	const int	*stop;
};
#define STOP_POLL_MS	100
/* Search PATH for a program; allocated path or NULL. */
char		*spawn_find_program(const char *);
/*
 * Run argv[0] (searched in PATH unless it holds a '/'; never through a
 * shell) in its own process group, with a clean signal mask and default
 * dispositions, and wait for it within the deadline: SIGTERM to the group
 * then, SIGKILL a second later. When the child exits, what is left of its
 * group is killed. Returns 0 when it ran, whatever its exit (see the
 * result, which the caller frees); -1 with cause when it could not start
 * ("cannot run 'kubectl': No such file or directory"). Thread-safe.
 */
int		 spawn_run(char *const *, const struct spawn_opts *,
		     struct spawn_result *, char **);
void		 spawn_result_free(struct spawn_result *);

/* manifest.c: resources and their identities */
enum hook_phase {
	PHASE_PRESYNC,
	PHASE_SYNC,
	PHASE_POSTSYNC,
	PHASE_SYNCFAIL,
};
#define PHASE_COUNT 4
struct resource {
	char		*api_version;	/* "apps/v1" */
	char		*group;		/* "apps", "" for the core group */
	char		*kind;
	char		*namespace;	/* "" for cluster-scoped */
	char		*name;
	/*
	 * "Kind[.group]/namespace/name" ("Kind[.group]/name" when
	 * cluster-scoped), the identity used everywhere
	 */
	char		*id;
	struct json	*obj;		/* the whole document, owned */
	char		*file;		/* where it was declared */
	int		 line;
	int		 column;
	enum hook_phase	 phase;
	int		 is_hook;	/* declared as a hook (any phase) */
	int		 skip;		/* hook "Skip": never applied */
	int		 hook_delete;	/* HOOK_DELETE_* (a hook's policy) */
	long		 wave;
};
/* hook-delete-policy; a hook without one has BeforeHookCreation. */
#define HOOK_DELETE_BEFORE_CREATION	0x1	/* BeforeHookCreation */
#define HOOK_DELETE_SUCCEEDED		0x2	/* HookSucceeded */
#define HOOK_DELETE_FAILED		0x4	/* HookFailed */
struct resource_set {
	struct resource	**v;	/* in the order added */
	size_t		  n;
	size_t		  cap;
	struct strmap	 *by_id;
};
/* Annotations honoured for phase and wave. */
#define ANNOTATION_ARGO_HOOK		"argocd.argoproj.io/hook"
#define ANNOTATION_HOOK			"gitops-agent.io/hook"
#define ANNOTATION_ARGO_HOOK_DELETE	"argocd.argoproj.io/hook-delete-policy"
#define ANNOTATION_HOOK_DELETE		"gitops-agent.io/hook-delete-policy"
#define ANNOTATION_ARGO_WAVE		"argocd.argoproj.io/sync-wave"
#define ANNOTATION_WAVE			"gitops-agent.io/sync-wave"
const char	*phase_name(enum hook_phase);
/* The phase of a name phase_name gives; -1 if none. */
int		 phase_parse(const char *, enum hook_phase *);
/* Kinds that are never namespaced (Namespace, ClusterRole, CRD, ...). */
int		 kind_is_cluster_scoped(const char *);
/*
 * Build a resource from a parsed document (file, line, column of the
 * document): checks apiVersion, kind, metadata.name (a DNS-1123
 * subdomain), metadata.namespace (a DNS label), the hook and wave
 * annotations. The resource takes ownership of obj on success; on failure
 * obj is the caller's, unchanged, and cause is "FILE:LINE:COLUMN: message".
 * Namespaced kinds without a namespace get default_namespace, written
 * into obj (NULL: they keep an empty one, for the target to fill in with
 * resource_set_default_namespace); cluster-scoped kinds have any
 * namespace dropped from obj. A "Skip" hook gives a resource with skip set.
 */
struct resource	*resource_new(struct json *, const char *, int, int,
		     const char *, char **);
/* The same for a document of a parsed file: errors at the field's place. */
struct resource	*resource_new_yaml(const struct yaml_file *, struct json *,
		     int, int, const char *, char **);
void		 resource_free(struct resource *);
/* Recompute identity fields after obj was edited (namespace set, ...). */
int		 resource_refresh(struct resource *, const char *, char **);
/* "Kind[.group]/namespace/name" from group, kind, namespace, name. */
char		*resource_id_make(const char *, const char *, const char *,
		     const char *);
struct resource_set *resource_set_new(void);
void		 resource_set_free(struct resource_set *);
/*
 * Adds; fails (and frees nothing) if the identity is already present:
 * "FILE:LINE:COLUMN: duplicate resource 'ID': first declared at FILE:LINE"
 * and why, when the two differ in API version (one object to the API
 * server) or in namespace (none and "default", one to kustomize).
 */
int		 resource_set_add(struct resource_set *, struct resource *,
		     char **);
struct resource	*resource_set_find(const struct resource_set *,
		     const char *);
/*
 * Give every namespaced resource of set with an empty namespace ns (the
 * target's), in its document and its identity. Namespaced: not one of
 * kind_is_cluster_scoped's kinds nor a kind a CRD of set declares with
 * scope Cluster. Fails on an invalid ns, or on two resources that become
 * one (set is then only fit to be freed).
 */
int		 resource_set_default_namespace(struct resource_set *,
		     const char *, char **);
/*
 * Load every *.yaml, *.yml, *.json under path (recursively, sorted by
 * name; names starting with '.' and kustomization files left out); path
 * may also name one file. Lists are expanded, "Skip" hooks left out. On
 * failure nothing is returned and *cause holds every error (up to 50),
 * one per line.
 */
int		 manifest_load_dir(struct source *, const char *, const char *,
		     struct resource_set **, char **);
/*
 * Add the resources of one file of a source, or of a parsed file (its
 * documents are detached), to set. On failure -1, set may hold some of
 * them, and every error is appended to *cause (cause_append).
 */
int		 manifest_load_file(struct resource_set *, struct source *,
		     const char *, const char *, char **);
int		 manifest_load_yaml(struct resource_set *, struct yaml_file *,
		     const char *, char **);

/* render.c: an app's path to its resources (plain files or kustomize) */
struct render_opts {
	/* given at the end to those that declare none; NULL: none */
	const char	*default_namespace;
	const char	*kubectl;	/* NULL: search PATH for kubectl */
	int		 no_external;	/* never run kubectl */
	uint64_t	 timeout_ms;	/* for kubectl; 0: 60 s */
};
/*
 * Render the resources at path: a folder with kustomization.yaml (or
 * .yml, or Kustomization) goes through the built-in subset (resources,
 * namespace, commonLabels, images) or, beyond it, `kubectl kustomize`
 * run on the materialized source; any other folder is loaded as plain
 * manifests. Without kubectl (or with no_external) a field beyond the
 * subset is an error "FILE:LINE:COLUMN: kustomization field 'patches' is
 * not supported by the built-in renderer and ...". Namespaced resources
 * that declare no namespace keep none (as kustomize leaves them) unless
 * default_namespace is given. Thread-safe.
 */
int		 render_path(struct source *, const char *,
		     const struct render_opts *, struct resource_set **,
		     char **);

/* plan.c: the order of a sync, and the order of apps */
struct plan_step {
	/*
	 * Where the step runs. A Namespace or CRD moved ahead keeps its own
	 * phase and wave in struct resource: the step's are the effective
	 * ones. The SyncFail step has wave 0; each hook there keeps its own.
	 */
	enum hook_phase	  phase;
	long		  wave;
	struct resource	**v;	/* borrowed from the resource_set */
	size_t		  n;
};
struct plan {
	struct plan_step *steps;	/* PreSync, Sync, PostSync waves */
	size_t		  nsteps;
	struct plan_step  syncfail;	/* run only when a sync fails */
};
/* Rank of a kind in the apply order; unknown kinds rank last. */
int		 plan_kind_rank(const char *);
/*
 * Order a resource set: phase, then wave, then kind rank, then (unknown
 * kinds) kind name, namespace, name, id: a total order, the same for any
 * input order. One step per (phase, wave). A Namespace moves to the step
 * of the first resource in it, a CRD to that of its first custom resource
 * (spec.group and spec.names.kind), when that is earlier; SyncFail hooks
 * are kept aside and drag nothing; Skip hooks are left out. Never fails.
 */
struct plan	*plan_build(const struct resource_set *);
void		 plan_free(struct plan *);
/* PHASE WAVE KIND NAMESPACE NAME NOTE, a blank line between steps. */
void		 plan_print_table(FILE *, const struct plan *);
/*
 * {"steps": [{"phase", "wave", "resources": [{"id", "apiVersion", "kind",
 * "namespace", "name", "file", "line", "hook", "movedFrom"?}]}],
 * "syncFail": [{..., "wave"}]}
 */
struct json	*plan_to_json(const struct plan *);
/*
 * Topological order of the named apps (NULL or empty: every app) and
 * everything they depend on, appended to *order, dependencies first; apps
 * free to go in any order keep the order of the configuration. Errors,
 * one per line: "unknown app 'x'", "app 'a' depends on unknown app 'x'",
 * "dependency cycle: a -> b -> a" ("->" reads "depends on"; one line per
 * cycle group, naming its other apps when one cycle does not cover it).
 */
int		 plan_app_order(const struct config *, const struct strv *,
		     struct strv *, char **);

/* diff.c: desired against live */
enum diff_action {
	DIFF_UNCHANGED,
	DIFF_CREATE,
	DIFF_UPDATE,
	DIFF_PRUNE,
};
const char	*diff_action_name(enum diff_action);
/*
 * The part of live that desired declares: for objects the keys desired
 * has (recursively); lists whose items all have a "name" (containers, env,
 * ports, volumes...) matched by name in desired's order, other lists by
 * position when the lengths agree, else taken whole. Status and
 * server-managed metadata (resourceVersion, uid, generation,
 * creationTimestamp, managedFields, selfLink, deletionTimestamp, the
 * last-applied-configuration annotation) are left out. NULL if either is.
 */
struct json	*diff_project(const struct json *, const struct json *);
/* The projection of live equals desired (cleaned the same way). */
int		 diff_equal(const struct json *, const struct json *);
/*
 * How live is compared: DIFF_PROJECT for live state that a server fills
 * in (defaults, server-set fields: only what desired declares counts),
 * DIFF_EXACT for live state that holds exactly what was applied (the
 * directory target), where a field removed from desired is a change.
 */
enum diff_mode {
	DIFF_PROJECT,
	DIFF_EXACT,
};
int		 diff_equal_mode(const struct json *, const struct json *,
		     enum diff_mode);
/* What diff_equal_mode compares: desired cleaned, and live's view. */
void		 diff_views(const struct json *, const struct json *,
		     enum diff_mode, struct json **, struct json **);

/* drift.c: which fields of a live object drifted */
/* Fields listed per resource; the others are only counted. */
#define DRIFT_FIELDS_MAX	10
/*
 * The paths where live differs from want (both as compared), up to max
 * of them added to out; returns how many differ.
 */
size_t		 drift_fields(const struct json *, const struct json *, size_t,
		     struct strv *);
/*
 * The fields live's managedFields give to managers other than manager
 * (the status subresource aside) and not to manager too, up to max in
 * out, those managers' names in managers; returns how many.
 */
size_t		 drift_foreign_fields(const struct json *, const char *,
		     size_t, struct strv *, struct strv *);
/*
 * A resource's drift as reports show it: {"fields": [ours...],
 * "othersFields": [...], "managers": [...]} and the counts of those not
 * listed; NULL when there is none.
 */
struct json	*drift_report(const struct strv *, size_t, const struct strv *,
		     size_t, const struct strv *);
/* CREATE (live NULL), PRUNE (desired NULL), UNCHANGED or UPDATE. */
enum diff_action diff_classify(const struct json *, const struct json *);
/* kind Secret, apiVersion v1. */
int		 diff_is_secret(const struct json *);
/*
 * A copy with Secret data and stringData values masked as Argo CD does:
 * each value becomes a run of '+'. Other kinds are copied unchanged.
 */
struct json	*diff_mask_secret(const struct json *);
/*
 * Mask two versions of a Secret in place (either may be NULL), Argo CD's
 * way: per key, the first's value gets 8 '+', the second's the same mask
 * when the values are equal and 12 '+' when they differ.
 */
void		 diff_mask_secret_pair(struct json *, struct json *);
/*
 * Unified diff (3 lines of context) of two texts, as `diff -u` prints it
 * with the given labels; NULL when equal. A NULL text is an empty one.
 */
char		*diff_unified_text(const char *, const char *, const char *,
		     const char *);
/*
 * Unified diff of the YAML of the masked live projection ("live/ID") and
 * the masked desired ("desired/ID"); live NULL is a creation ("/dev/null"
 * against desired). NULL when equal.
 */
char		*diff_resource_text(const struct resource *,
		     const struct json *);
char		*diff_resource_text_mode(const struct resource *,
		     const struct json *, enum diff_mode);
/*
 * kubectl diff --server-side's view: the whole live object ("live/ID",
 * or "/dev/null" when NULL) against what the server answered a dry-run
 * apply ("merged/ID"), both without managedFields, keys in byte order,
 * Secret values masked. NULL when equal.
 */
char		*diff_merged_text(const char *, const struct json *,
		     const struct json *);
/* A prune: the masked live object against "/dev/null". */
char		*diff_prune_text(const char *, const struct json *);

/* target.c: where resources are applied (a directory; Kubernetes later) */
enum health_status {
	HEALTH_HEALTHY,
	HEALTH_PROGRESSING,
	HEALTH_DEGRADED,
	HEALTH_MISSING,
	HEALTH_SUSPENDED,	/* paused on purpose: nothing to wait for */
	HEALTH_UNKNOWN,
};
const char	*health_status_name(enum health_status);
/* Healthy, or Suspended: a wave has nothing left to wait for. */
int		 health_settled(enum health_status);
/* One resource the agent applied for an app, as the target remembers it. */
struct target_entry {
	char		*id;
	enum hook_phase	 phase;
	long		 wave;
};
/* What target_remove() did. */
enum target_remove_status {
	TARGET_REMOVED,		/* deleted */
	TARGET_GONE,		/* already absent; forgotten */
	TARGET_KEPT,		/* changed since the agent wrote it: kept, */
				/* and no longer tracked */
	TARGET_DEFERRED,	/* cannot be looked at now (its kind is not */
				/* served): kept, and still tracked */
};
/*
 * A target owns its inventory: apply records what it writes, remove
 * forgets it, inventory_save makes it durable. Only what the inventory
 * holds is ever removed.
 */
struct target_ops {
	const char *name;
	/*
	 * DIFF_EXACT when live holds exactly what was applied (a field
	 * removed from desired is then a change), DIFF_PROJECT when a
	 * server fills in fields of its own.
	 */
	enum diff_mode	 diff_mode;
	/*
	 * Non-zero when compare asks the server to validate the object (a
	 * dry-run apply): a compare error then fails the whole sync before
	 * anything is applied, as Argo CD's dry-run does. Zero: it fails
	 * the resource at its wave.
	 */
	int		 validates;
	/* *live is NULL when the resource does not exist. */
	int	(*get)(struct target *, const char *, struct json **,
		    char **);
	/*
	 * Desired against live: *action is DIFF_CREATE, DIFF_UPDATE or
	 * DIFF_UNCHANGED; with DIFF_UPDATE and live non-NULL, *live is the
	 * live object (for the diff text). Optional: without it,
	 * target_compare() uses get and diff_equal.
	 */
	int	(*compare)(struct target *, const struct resource *,
		    enum diff_action *, struct json **, char **);
	/*
	 * The text of a change compare found, when the target knows more
	 * than desired and live (the Kubernetes target shows live against
	 * the server's dry-run answer, as kubectl diff does). Optional:
	 * without it, diff_resource_text_mode() with diff_mode.
	 */
	char	*(*diff_text)(struct target *, const struct resource *,
		    const struct json *);
	/* Create or replace; records the resource in the inventory. */
	int	(*apply)(struct target *, const struct resource *, char **);
	/* Delete by identity, only what the inventory holds. */
	int	(*remove)(struct target *, const char *,
		    enum target_remove_status *, char **);
	/*
	 * *h, or -1 with *cause when it cannot be told. With 0 and *h
	 * not HEALTH_HEALTHY, *cause may say why (allocated): the reason
	 * the object's status gives.
	 */
	int	(*health)(struct target *, const struct resource *,
		    enum health_status *, char **);
	/*
	 * Optional: block until one of these resources (not yet healthy)
	 * may have changed, so health is worth asking again, or the
	 * monotonic deadline (0: none, the target's own bound) passes.
	 * 0 either way; -1 and *cause when it cannot wait (stopped).
	 * Without it, target_wait() sleeps for the caller's pause.
	 */
	int	(*wait)(struct target *, struct resource *const *, size_t,
		    uint64_t, char **);
	/* The inventory, sorted by id; copies the caller frees. */
	int	(*inventory)(struct target *, struct target_entry **,
		    size_t *, char **);
	/*
	 * Called before applying these resources: make durable that they
	 * may exist live, so a crash while applying leaves nothing the
	 * inventory does not account for. Optional.
	 */
	int	(*prepare)(struct target *, struct resource *const *,
		    size_t, char **);
	/* Make the inventory durable if it changed; writes nothing if not. */
	int	(*inventory_save)(struct target *, char **);
	/*
	 * Batching, optional (both or neither). After begin, a successful
	 * apply may only have staged its change, neither visible nor
	 * durable, until commit makes every staged change visible and
	 * durable at once (a reader still sees the old or the new object,
	 * never a partial one). Commit is called after the applies of a
	 * step, after a failed apply too: on success everything applied
	 * since begin is in place and durable; on failure the inventory
	 * says exactly what is, nothing staged is left behind, and *id
	 * (allocated) names the resource that failed, if one did. Staged
	 * changes never committed are discarded by inventory_save and free.
	 */
	void	(*begin)(struct target *);
	int	(*commit)(struct target *, char **, char **);
	/*
	 * Optional: after a failed commit, whether the apply of id in that
	 * batch took effect (NULL: all did, or none was staged apart).
	 */
	int	(*committed)(struct target *, const char *);
	/*
	 * Optional: the resources about to be compared, so the target can
	 * do per-resource work for all of them at once (in parallel).
	 */
	void	(*warm)(struct target *, struct resource *const *, size_t);
	/*
	 * Optional: after compare, which fields of r drifted (drift.c's
	 * report, NULL: none); live as compare gave it. Without it,
	 * target_drift() names the fields where a changed resource's live
	 * differs from desired.
	 */
	struct json *(*drift)(struct target *, const struct resource *,
		    const struct json *);
	void	(*free)(struct target *);
	/*
	 * Optional: refuse, before anything is applied, a sync that would
	 * prune nprune of the inventory's ninv resources, desired holding
	 * ndesired.
	 */
	int	(*prune_check)(struct target *, size_t, size_t, size_t,
		    char **);
};
struct target {
	const struct target_ops	*ops;
	char			*app;	/* whose inventory */
	char			*label;	/* for messages */
	/* where namespaced resources that name none go ("default") */
	char			*namespace;
	void			*arg;
};
/*
 * A directory target for app at path: one YAML file per resource at
 * target_dir_path(), the inventory in .gitops-agent/inventory/APP.json.
 */
struct target	*target_dir_new(const char *, const char *);
/*
 * Stable file path of an identity inside a directory target:
 * DIR/NAMESPACE/Kind[.group]/NAME.yaml, or DIR/_cluster/Kind[.group]/
 * NAME.yaml for cluster-scoped ones. NULL if the identity is malformed or
 * a part could leave the directory.
 */
char		*target_dir_path(const char *, const char *);
/* The diff text of a changed resource; live as compare gave it. */
char		*target_diff_text(struct target *, const struct resource *,
		     const struct json *);
void		 target_warm(struct target *, struct resource *const *,
		     size_t);
/* After compare: the fields of r that drifted (drift_report), or NULL. */
struct json	*target_drift(struct target *, const struct resource *,
		     enum diff_action, const struct json *);
/* What a directory target did to make its writes durable (for tests). */
struct target_dir_counts {
	size_t		 syncfs;	/* file system flushes */
	size_t		 file_syncs;	/* fsync of a file */
	size_t		 dir_syncs;	/* fsync of a directory */
	size_t		 stat_hits;	/* compared by the stat cache alone */
	size_t		 reads;		/* live files read to compare */
};
void		 target_dir_counts(struct target *,
		     struct target_dir_counts *);
/*
 * Take the lock of the directory target at path for a sync of app
 * (PATH/.gitops-agent/lock, its holder's line in the records folder
 * when not NULL, waiting up to wait ms or until *stop), then remove the
 * temporary files a crashed sync left there. As target_lock.
 */
int		 target_dir_lock(const char *, const char *, const char *,
		     uint64_t, const int *, struct lock **, char **);
void		 target_free(struct target *);
/*
 * The target of an app as its configuration describes it, whatever its
 * kind: the only place that chooses one. Its requests give up when *stop
 * (NULL: never) becomes non-zero. NULL and *cause if it cannot be opened.
 */
struct target	*target_open(const char *, const struct config_target *,
		     const int *, char **);
/*
 * Take the lock two syncs of app's target share, between threads and
 * processes (waiting up to wait ms or until *stop); with a state_dir,
 * the holder says who it is and since when in STATE_DIR/locks. 0 and
 * *lock; 1 when another sync holds it, *cause "target of app 'APP' is
 * locked by OWNER (pid N) since TIME"; -1 and *cause on error.
 */
int		 target_lock(const char *, const struct config_target *,
		     const char *, uint64_t, const int *, struct lock **,
		     char **);
/*
 * Take the lock file at path (its folder, and the records folder when
 * not NULL, made if missing) for a sync of app to the target label
 * names, as target_lock does.
 */
int		 target_lock_file(const char *, const char *, const char *,
		     const char *, uint64_t, const int *, struct lock **,
		     char **);
/*
 * A Kubernetes target for app: server-side apply to the cluster the
 * configuration names, the inventory an ApplySet (target_kube.c).
 */
struct target	*target_kube_new(const char *, const struct config_target *,
		     const int *, char **);
/*
 * kubectl's ApplySet id of a parent object (name, namespace, kind,
 * group): "applyset-" base64url(sha256("NAME.NS.KIND.GROUP")) "-v1".
 */
char		*target_kube_applyset_id(const char *, const char *,
		     const char *, const char *);
/*
 * What names a target (for messages, the API and the daemon's per-target
 * serialisation): two apps with the same key share a target. Allocated.
 */
char		*target_key(const struct config_target *);
/* What names the lock of app's sync to its target across processes. */
char		*target_lock_key(const struct config_target *,
		     const char *);
int		 target_get(struct target *, const char *, struct json **,
		     char **);
int		 target_compare(struct target *, const struct resource *,
		     enum diff_action *, struct json **, char **);
int		 target_apply(struct target *, const struct resource *,
		     char **);
int		 target_remove(struct target *, const char *,
		     enum target_remove_status *, char **);
/*
 * Until one of v may have changed or deadline (monotonic ms, 0: none):
 * the target's wait, or a sleep of pause_ms (bounded by the deadline,
 * ended by *stop). 0, or -1 and *cause when stopped.
 */
int		 target_wait(struct target *, struct resource *const *, size_t,
		     uint64_t, uint64_t, const int *, char **);
int		 target_health(struct target *, const struct resource *,
		     enum health_status *, char **);
int		 target_inventory_entries(struct target *,
		     struct target_entry **, size_t *, char **);
void		 target_entries_free(struct target_entry *, size_t);
/* The identities in the inventory, sorted. */
int		 target_inventory(struct target *, struct strv *, char **);
int		 target_prepare(struct target *, struct resource *const *,
		     size_t, char **);
int		 target_inventory_save(struct target *, char **);
int		 target_prune_check(struct target *, size_t, size_t, size_t,
		     char **);
/* Start staging applies; commit makes them visible and durable. */
void		 target_begin(struct target *);
/* After a failed target_commit: the apply of id took effect. */
int		 target_committed(struct target *, const char *);
int		 target_commit(struct target *, char **, char **);

/* sync.c: diff, then apply wave by wave, then prune */
struct sync_change {
	char		 *id;
	enum diff_action  action;
	enum hook_phase	  phase;
	long		  wave;
	char		 *diff;		/* unified diff, masked; may be NULL */
};
struct sync_wave_result {
	enum hook_phase	 phase;
	long		 wave;
	int		 ok;
	size_t		 applied;
	size_t		 unchanged;
	char		*error;		/* first failure in this wave */
};
enum sync_status {
	SYNC_SUCCEEDED,
	SYNC_FAILED,
	SYNC_DRY_RUN,
};
/* One command hook, health probe or analysis check of a sync. */
struct sync_check {
	char		*name;
	const char	*kind;		/* "hook", "health", "analysis" */
	enum hook_phase	 phase;		/* hooks */
	const char	*verdict;	/* "Passed", "Failed", "Inconclusive" */
	char		*detail;	/* what was seen; a hook's output */
	uint64_t	 ms;
};
/* A desired resource after a sync: whether it is as Git says, its health. */
struct sync_resource {
	char			*id;
	enum hook_phase		 phase;
	long			 wave;
	const char		*sync;	/* Synced, OutOfSync, Failed, Skipped */
	enum health_status	 health;	/* Unknown unless its wave was gated */
	char			*health_reason;	/* what its status said, or NULL */
	struct json		*drift;	/* a drift check's: drift_report */
};
struct sync_result {
	char			*app;
	enum sync_status	 status;
	uint64_t		 started_ms;	/* wall clock */
	uint64_t		 finished_ms;
	/* Planned changes in plan order, then prunes (reverse order). */
	struct sync_change	*changes;
	size_t			 nchanges;
	struct sync_wave_result	*waves;
	size_t			 nwaves;
	/* What was done (what would be, in a dry run). */
	size_t			 created;
	size_t			 updated;
	size_t			 hooks_run;	/* of those, hooks (not saved) */
	size_t			 pruned;
	size_t			 unchanged;
	/* Not pruned: changed since the agent wrote them, now untracked. */
	struct strv		 kept;
	char			*failed_resource;	/* id, or NULL */
	char			*error;			/* or NULL */
	char			*revision;		/* may be NULL */
	/* What the render read (source_record_new), if recorded. */
	struct strv		 inputs;
	/* Command hooks, health probes and analysis, in the order run. */
	struct sync_check	*checks;
	size_t			 nchecks;
	char			*version;	/* the service's, at revision */
	/*
	 * The resources were applied, then a wave never got healthy (in
	 * time), or a hook, a health probe or the analysis failed: what a
	 * rollback of a deploy answers.
	 */
	int			 failed_after_apply;
	/* Every desired resource, in plan order. */
	struct sync_resource	*resources;
	size_t			 nresources;
};
struct sync_opts {
	int		 dry_run;
	/*
	 * A drift check (with dry_run): each resource's drifted fields
	 * (target_drift) and its health as it runs now.
	 */
	int		 drift;
	int		 prune;
	/* Make each change's unified diff (costly: YAML and a diff each). */
	int		 diff_texts;
	uint64_t	 timeout_ms;	/* whole sync; 0: none */
	uint64_t	 wave_timeout_ms; /* each wave's health wait; 0: none */
	const char	*revision;	/* recorded in the result */
	/*
	 * Set (non-zero, by another thread) to stop before the next wave:
	 * the wave being applied finishes, the sync fails saying why.
	 */
	const int	*stop;
	/*
	 * Asked before each wave and before pruning (NULL: never): 0 and
	 * *cause (allocated) when this process may no longer write to the
	 * target (replicas: another may hold the app's shard). The sync then
	 * fails before writing more, and runs no SyncFail hook.
	 */
	int		(*fence)(void *, char **);
	void		*fence_arg;
};
const char	*sync_status_name(enum sync_status);
/*
 * Compute the changes of desired against the target, and unless dry_run
 * apply them in plan order, one wave at a time, stopping at the first
 * failure; then prune (reverse wave order) what the inventory holds and
 * desired does not. Returns -1 only when it could not start (the target
 * unreadable); a failed wave is a result with status SYNC_FAILED.
 */
int		 sync_run(struct target *, const struct resource_set *,
		     const struct sync_opts *, struct sync_result **,
		     char **);
void		 sync_result_free(struct sync_result *);
/* The result without diff texts (they may be large). */
struct json	*sync_result_to_json(const struct sync_result *);
int		 sync_result_has_changes(const struct sync_result *);
/* A human summary: one line per change and per wave; diffs if asked. */
void		 sync_result_print(FILE *, const struct sync_result *, int);

/* state.c: what the agent last did, kept under state_dir */
/* Writes STATE_DIR/apps/APP/last-sync.json atomically. */
int		 state_save_sync(const char *, const struct sync_result *,
		     char **);
/* The last recorded result of an app as JSON; *out NULL if none. */
int		 state_load_sync(const char *, const char *, struct json **,
		     char **);
/* Results kept in STATE_DIR/apps/APP/history.json, oldest first. */
#define STATE_HISTORY_MAX	50
/* The app's last max recorded results, newest first (maybe none). */
int		 state_load_history(const char *, const char *, size_t,
		     struct json **, char **);

/* config.c: the configuration file */
enum config_target_type {
	TARGET_DIRECTORY,
	TARGET_KUBERNETES,
};
/* Where an app's resources go (target_open() makes one of it). */
struct config_target {
	enum config_target_type type;
	char		*path;		/* directory: the folder */
	/* kubernetes: */
	char		*kubeconfig;	/* NULL: $KUBECONFIG, ~/.kube/config */
	char		*context;	/* NULL: the current-context */
	int		 in_cluster;	/* the pod's service account */
	char		*namespace;	/* NULL: the context's, else default */
	char		*field_manager;
	int		 force_conflicts;
	int		 qps;
	int		 burst;
	uint64_t	 request_timeout_ms;
	int		 prune_max_percent; /* of the inventory, per sync */
	int		 force_prune;	/* --force-prune: no such bound */
	char		*lock_file;	/* STATE_DIR/locks/...: set by config */
	/* kubernetes: recorded in the inventory (default: set by config, */
	/* the repository's URL or directory, '#', the app's path) */
	char		*owner;
	char		*digest_key;	/* STATE_DIR/kube-digest.key (config) */
	/* The top level's health_rules, copied here by config. */
	struct health_rule *health_rules;
	size_t		 nhealth_rules;
};
/* A deep copy of src into dst; config_target_clear frees what it owns. */
void		 config_target_copy(struct config_target *,
		     const struct config_target *);
void		 config_target_clear(struct config_target *);
/* repositories[].verify_commits: the keys a commit must be signed with. */
struct config_verify {
	char		*allowed_signers; /* SSH: ssh-keygen's format */
	char		*keyring;	/* OpenPGP: a keyring gpgv reads */
};
struct config_repository {
	char		*name;
	char		*url;
	char		*directory;	/* a plain directory, read in place */
	char		*branch;
	uint64_t	 poll_interval_ms;
	uint64_t	 timeout_ms;	/* network deadline */
	char		*webhook_secret_file;
	char		*webhook_secret_env;
	int		 allow_force_deploy; /* signed deploys may force */
	char		*token_file;	/* HTTPS token for the remote */
	char		*token_env;
	char		*ssh_key_file;	/* SSH: key, and how the host is known */
	char		*ssh_known_hosts_file;
	char		*ssh_host_key;	/* pinned: "SHA256:..." */
	int		 line;		/* where it was declared */
	int		 column;
	struct config_verify verify_commits; /* both NULL: not asked */
};
/* health.c: probes (also the configuration of apps[].health, analysis) */
enum probe_type {
	PROBE_HTTP,
	PROBE_COMMAND,
	PROBE_PROMETHEUS,
};
struct probe {
	char		*name;
	enum probe_type	 type;
	char		*url;
	int		 expect_status;
	int		 successes;
	int		 failures;
	uint64_t	 interval_ms;
	uint64_t	 timeout_ms;
	struct strv	 argv;
	char		*query;
	char		*condition;
	int		 count;
	int		 failure_limit;
	int		 line;
	int		 column;
	char		*ca_file;	/* https: CAs trusted; NULL: system's */
};
enum probe_verdict {
	PROBE_PASSED,
	PROBE_FAILED,
	PROBE_INCONCLUSIVE,	/* Prometheus could not be asked */
};
const char	*probe_type_name(enum probe_type);
/*
 * Run a probe to its verdict, bounded by deadline (monotonic ms; 0:
 * none); *why (allocated) says what was seen. http: GET until it answers
 * expect_status `successes` times in a row, interval apart; command: one
 * run, exit 0 passes (envp: its environment, NULL: inherited); prometheus:
 * `count` measurements interval apart, failing past failure_limit bad
 * ones, inconclusive when the server could not be asked. Once *stop is
 * set (by another thread; NULL: never) it fails within about
 * STOP_POLL_MS, saying so.
 */
enum probe_verdict probe_run(const struct probe *, char *const *,
		     uint64_t, const int *, char **);
/* A live object's health by the rules of its kind; *why if not Healthy. */
enum health_status health_of_object(const struct json *, char **);
/*
 * health_rules[]: what a kind's conditions mean, for custom resources
 * kstatus knows nothing of. Every healthy "Type=Status" holding is
 * Healthy; any degraded one holding is Degraded; else Progressing.
 */
struct health_rule {
	char		*group;		/* NULL: any group */
	char		*kind;
	struct strv	 healthy;	/* "Type=Status" */
	struct strv	 degraded;	/* "Type=Status" */
	int		 line;
	int		 column;
};
/* The same, the first rule of its group and kind before kstatus's. */
enum health_status health_of_object_ruled(const struct json *,
		     const struct health_rule *, size_t, char **);
void		 health_rules_copy(struct health_rule **, size_t *,
		     const struct health_rule *, size_t);
void		 health_rules_free(struct health_rule *, size_t);
/*
 * A workload's pod that waiting will not fix (failed, a container in
 * CrashLoopBackOff, ImagePullBackOff, InvalidImageName or
 * CreateContainerConfigError): 1 and *why ("pod NAME: ...").
 */
int		 health_pod_failing(const struct json *, char **);
/* A Deployment, StatefulSet or DaemonSet: its health has pods behind it. */
int		 health_is_workload(const struct json *);
struct health_condition {
	int	 op;
	double	 value;
};
/* "result >= 0.95" (or "0.95 <= result"); < <= > >= == != */
int		 health_condition_parse(const char *,
		     struct health_condition *, char **);
int		 health_condition_eval(const struct health_condition *,
		     double);
/* One instant query at a Prometheus base URL: the first sample's value. */
int		 health_prometheus_query(const char *, const char *, uint64_t,
		     double *, char **);

/* http.c: a blocking HTTP client on libcurl (http:// and https://) */
struct http_response {
	int	 status;
	char	*body;		/* NUL-terminated */
	size_t	 len;
	uint64_t retry_after_ms; /* Retry-After in seconds, as ms; 0: none */
	char	*warnings;	/* Warning headers' texts, a line each */
	/* On failure: the connection broke or was refused (worth a retry). */
	int	 broken;
};
/*
 * METHOD url (with body of type when not NULL) within timeout_ms (0: 10
 * s), refusing an answer past max_body bytes (0: 4 MiB).
 */
int		 http_request(const char *, const char *, const char *,
		     const char *, size_t, uint64_t, size_t,
		     struct http_response *, char **);
/* The same, given up within ~100 ms once *stop (first) is set. */
int		 http_request_stop(const int *, const char *, const char *,
		     const char *, const char *, size_t, uint64_t, size_t,
		     struct http_response *, char **);
void		 http_response_free(struct http_response *);
/* Percent-encoding for a query string value (allocated). */
char		*http_query_escape(const char *);
/* One request for http_send: http_request's arguments, and more. */
struct http_req {
	const char	*method;
	const char	*url;
	const char	*type;		/* of body; NULL: application/json */
	const char	*body;		/* NULL: none */
	size_t		 bodylen;
	uint64_t	 timeout_ms;	/* 0: 10 s */
	size_t		 max_body;	/* 0: 4 MiB */
	const int	*stop;		/* NULL: never */
	const char	*ca_file;	/* https: PEM CAs; NULL: the system's */
	/* From memory, never a file (a kubeconfig's -data keys): */
	const char	*ca_blob;	/* PEM CAs; NULL: ca_file */
	size_t		 ca_blob_len;
	const char	*cert_blob;	/* client certificate, PEM */
	size_t		 cert_blob_len;
	const char	*key_blob;	/* its private key, PEM */
	size_t		 key_blob_len;
	const char	*bearer;	/* Authorization: Bearer; NULL: none */
	int		 insecure;	/* no TLS verification (said, logged) */
	const char	*tls_server_name; /* name the certificate must have */
	const char	*proxy;		/* proxy URL; NULL: the environment's */
	const char	*accept;	/* Accept header; NULL: curl's */
	/*
	 * A streamed answer (a watch): the body of a 2xx answer goes to
	 * stream as it arrives, never into resp->body; stream returns 0 to
	 * read on, -1 to end the answer there. Once a 2xx status came, the
	 * answer ending by stream, by *cancel or at timeout_ms is a normal
	 * end (0, resp->status), and a broken connection is not worth a
	 * retry (it would replay from the start). Answers of another
	 * status are read whole, as without stream.
	 */
	int		(*stream)(void *, const char *, size_t);
	void		*stream_arg;
	const int	*cancel;	/* NULL: never; ends a stream */
};
/*
 * Send req, answer in *resp. A connection is kept per thread and reused
 * by the next request to the same server; TLS is always verified;
 * redirects are not followed; proxies as curl reads them from the
 * environment.
 */
int		 http_send(const struct http_req *, struct http_response *,
		     char **);

/* apps[].hooks[]: a command run in a phase of a sync. */
struct config_hook {
	char		*name;
	enum hook_phase	 phase;
	struct strv	 argv;
	uint64_t	 timeout_ms;
	int		 line;
	int		 column;
};
struct config_app {
	char		*name;
	char		*repository;
	char		*path;		/* normalised, inside the repo */
	struct config_target target;
	char		*namespace;	/* default for namespaced resources */
	struct strv	 depends_on;
	int		 prune;
	uint64_t	 sync_timeout_ms;
	uint64_t	 wave_timeout_ms;
	int		 self_heal;	/* a poll re-applies what drifted */
	uint64_t	 drift_interval_ms; /* drift checks between polls */
	int		 sync_manual;	/* sync_policy: manual */
	int		 suspend;	/* the daemon leaves it alone */
	char		*service;
	char		*environment;
	struct probe	*health;
	size_t		 nhealth;
	struct probe	*analysis;
	size_t		 nanalysis;
	int		 analysis_inconclusive_pass;
	uint64_t	 analysis_timeout_ms;
	struct config_hook *hooks;
	size_t		 nhooks;
	int		 shard;		/* pinned shard; -1: by its name's hash */
	int		 line;
	int		 column;
};
struct config_versions {
	char		*repository;
	char		*file;
	char		*held_file;
	char		*author_name;
	char		*author_email;
	char		*signing_key;
	uint64_t	 timeout_ms;
	int		 max_attempts;
};
/* Replicas sharing the apps through Leases (lease.c). */
struct config_coordination {
	int		 enabled;	/* the file has a coordination: */
	char		*kubeconfig;	/* NULL: $KUBECONFIG, ~/.kube/config */
	char		*context;
	int		 in_cluster;
	char		*namespace;	/* NULL: the credentials', else default */
	int		 shards;
	uint64_t	 lease_duration_ms;
	char		*identity;	/* NULL: HOSTNAME-PID */
};
struct config {
	char			 *file;		/* as loaded */
	char			 *listen;
	char			 *state_dir;
	enum log_level		  log_level;
	char			 *tls_cert_file;
	char			 *tls_key_file;
	int			  http_max_body;
	int			  http_max_headers;
	uint64_t		  http_timeout_ms;
	int			  http_max_connections;
	int			  http_max_connections_per_client;
	char			 *api_token_file;
	char			 *api_token_env;
	int			  workers;
	uint64_t		  shutdown_timeout_ms;
	char			 *notify_url;
	struct health_rule	 *health_rules;
	size_t			  nhealth_rules;
	struct config_repository *repositories;
	size_t			  nrepositories;
	struct config_app	 *apps;
	size_t			  napps;
	struct config_versions	  versions;
	struct config_coordination coordination;
};
/*
 * Load and check a configuration file. On failure *cause lists every
 * error found, one per line, each "FILE:LINE:COLUMN: message", in the
 * order of the file. Local paths (state_dir, directory, target.path,
 * webhook_secret_file) are stored resolved against the file's directory.
 * A dependency cycle is not checked here: plan_app_order() names it.
 */
struct config	*config_load(const char *, char **);
/* The same from a buffer (name used in messages and to resolve paths). */
struct config	*config_parse(const char *, const char *, size_t, char **);
void		 config_free(struct config *);
const struct config_app *config_find_app(const struct config *,
		     const char *);
const struct config_repository *config_find_repository(
		     const struct config *, const char *);
/* One option of the reference, as config_reference_walk hands it over. */
struct config_ref {
	const char	*section;	/* "Top level", "apps[]", ... */
	int		 top;		/* the top level's section */
	int		 first;		/* first option of its section */
	const char	*key;
	const char	*type;		/* "duration, 1s to 24h", `code` */
	const char	*def;		/* YAML text; NULL: none */
	int		 required;
	const char	*desc;		/* may hold `code` spans */
};
/* Every option, section by section, in the table's order. */
void		 config_reference_walk(void (*)(const struct config_ref *,
		     void *), void *);
/* The option reference: a Markdown table per section, from the table. */
void		 config_print_reference(FILE *);
/*
 * Read a secret from a file (one trailing newline dropped; a file open to
 * group or others is logged as a warning) or from an environment
 * variable: exactly one of the two. The result is NUL-terminated; the
 * caller wipes (explicit_bzero) and frees it. Errors name the file or the
 * variable, never the content.
 */
/*
 * Every secret the configuration names (webhook secrets, tokens, the API
 * token, SSH keys) can be read and is not empty, as serve needs them;
 * warns of one open to group or others. -1 with every problem in cause.
 */
int		 config_check_secrets(const struct config *, char **);
int		 config_read_secret(const char *, const char *, char **,
		     size_t *, char **);
/* A repository's credentials (its token, read now); git_creds_clear. */
struct git_creds;
int		 config_repository_creds(const struct config_repository *,
		     struct git_creds *, char **);

/*
 * verify.c: a commit's signature checked against a repository's keys:
 * SSH signatures with `ssh-keygen -Y verify` against allowed_signers
 * (namespace "git", as git does), OpenPGP ones with `gpgv` against the
 * keyring. 0 when sig is a good signature of data by a key listed there,
 * *signer (allocated) saying whose; -1 otherwise, *cause saying why: "it
 * is not signed" (sig NULL), "its key is not in ...", "bad signature:
 * ..." or a tool that cannot run ("gpgv is not installed").
 */
int		 verify_signature(const struct config_verify *, const char *,
		     size_t, const char *, size_t, char **, char **);
/* The files are there and list a key (for the configuration's check). */
int		 verify_check_files(const struct config_verify *, char **);

/*
 * app.c: one app's sync, as the command line and the daemon do it.
 * repo_fetch fetches a repository's branch (its credentials read for the
 * fetch only), the commit id in *tip; repo_source opens the tree of a
 * revision (NULL: the branch as last fetched), the commit in *commit, or
 * the directory of a directory repository; repo_changed_paths is
 * git_changed_paths on the repository's cache.
 */
int		 repo_fetch(const struct config *,
		     const struct config_repository *, char **, char **);
struct source	*repo_source(const struct config *,
		     const struct config_repository *, const char *, char **,
		     char **);
int		 repo_changed_paths(const struct config *,
		     const struct config_repository *, const char *,
		     const char *, struct strv *, char **);
/*
 * With verify_commits set on the repository, the commit (a full id) must
 * carry a good signature by one of its keys: -1 and *cause ("commit ID is
 * not verified: why") otherwise. 0 at once without verify_commits.
 */
int		 repo_verify(const struct config *,
		     const struct config_repository *, const char *, char **);
struct app_run {
	const char	*name;
	struct source	*source;	/* borrowed */
	const char	*path;		/* inside the source */
	const struct config_target *target; /* NULL: none given */
	const char	*namespace;	/* default namespace, or NULL */
	int		 prune;
	uint64_t	 timeout_ms;
	uint64_t	 wave_timeout_ms;
	const char	*revision;	/* commit id recorded, or NULL */
	int		 dry_run;
	int		 drift;		/* see struct sync_opts (dry runs) */
	int		 diff_texts;
	int		 no_external;	/* never run kubectl */
	int		 record_inputs;	/* keep what the render read */
	const char	*state_dir;	/* NULL: the result is not recorded */
	const int	*stop;		/* see struct sync_opts */
	int		(*fence)(void *, char **); /* see struct sync_opts */
	void		*fence_arg;
	/*
	 * The app's configuration, for its hooks, health probes, analysis
	 * and the service's version (NULL in --path mode: none of those).
	 */
	const struct config	*cfg;
	const struct config_app	*app;
	/*
	 * How long a sync waits for another one of the same target (the
	 * daemon's, a CLI's) to finish; 0: it fails at once naming it.
	 */
	uint64_t		 lock_wait_ms;
	/* Set to 1 when app_sync failed because another sync held it. */
	int			*locked;
};
/*
 * Render the app and sync it against its target directory, recording the
 * result under state_dir; a render that fails is recorded as a failed
 * sync and returned as -1 with its cause. With the app's configuration:
 * when the sync changes something, its PreSync hooks run before the
 * resources, Sync hooks after them and PostSync hooks once they are
 * healthy; then (also when the last sync did not succeed at this
 * revision) the health probes must pass within sync_timeout and the
 * analysis within analysis_timeout; a failure anywhere fails the sync
 * (failed_after_apply once resources were applied) and runs the SyncFail
 * hooks. Hooks and command probes run in the configuration file's
 * directory with GITOPS_APP, GITOPS_REVISION, GITOPS_PHASE,
 * GITOPS_TARGET, GITOPS_SERVICE, GITOPS_ENVIRONMENT, GITOPS_VERSION and
 * GITOPS_PREVIOUS_VERSION in their environment. Unless a dry run, the
 * target is locked from after the render to the recorded result.
 */
int		 app_sync(const struct app_run *, struct sync_result **,
		     char **);
/* Record a sync that could not start (why) as failed, at revision. */
void		 app_record_failure(const char *, const char *, const char *,
		     const char *);
/* An app depends (directly) on one of the failed apps. */
int		 app_dependency_failed(const struct config *, const char *,
		     const struct strv *);
/* The inputs a recorded sync result lists; -1 when it has none. */
int		 app_state_inputs(const struct json *, struct strv *);

/*
 * git.c: the repository cache; git_source.c: reading desired state from
 * commits; git_worker.c: the worker process that fetches and pushes (the
 * git files are the only libgit2 users).
 *
 * One bare cache per repository, STATE_DIR/repos/NAME.git, whose remote
 * "origin" is the configured URL. A fetch runs in a worker process (this
 * same program, started with GIT_WORKER_ARG) that is killed at its
 * deadline, because libgit2 1.5 has no network timeouts: every program
 * that may fetch calls git_worker_main() first thing in main() when
 * argv[1] is GIT_WORKER_ARG. A cache is used by one thread at a time; a
 * source made from it has its own handle and may be used elsewhere.
 */
#define GIT_WORKER_ARG		"__git-worker"
#define GIT_FETCH_TIMEOUT_MS	60000	/* when none is given */
struct git_cache;
/* What a fetch may authenticate with; secrets are handed over on stdin. */
struct git_creds {
	char		*https_token;	/* NULL: none */
	const char	*ssh_key_file;	/* SSH: a key without passphrase */
	const char	*ssh_known_hosts_file; /* the host key must be in it */
	const char	*ssh_host_key;	/* or match this "SHA256:..." */
};
/* ssh://... or scp-like user@host:path: a remote reached over SSH. */
int		 git_url_is_ssh(const char *);
/*
 * file:// or a plain path: libgit2 pushes there with no compare-and-swap
 * (the ref is forced), so versions are never written to one.
 */
int		 git_url_is_local(const char *);
/* Wipe and free what the credentials hold. */
void		 git_creds_clear(struct git_creds *);
/*
 * Create or open STATE_DIR/repos/NAME.git (bare); with url not NULL, the
 * remote "origin" is set to it (changed if the configuration changed).
 */
int		 git_cache_open(const char *, const char *, const char *,
		     struct git_cache **, char **);
void		 git_cache_free(struct git_cache *);
const char	*git_cache_path(const struct git_cache *);
/*
 * Fetch one branch (+refs/heads/B:refs/remotes/origin/B, and the tags
 * pointing into it) within timeout_ms (0: GIT_FETCH_TIMEOUT_MS); the
 * commit id fetched (allocated hex) in *oid. On the deadline: "cannot
 * fetch 'URL': no answer within 2s". Calls must not overlap on a cache.
 */
int		 git_cache_fetch(struct git_cache *, const char *, uint64_t,
		     const struct git_creds *, char **, char **);
/* A branch (as last fetched), a tag, or a (short) commit id -> commit id. */
int		 git_resolve(struct git_cache *, const char *, char **,
		     char **);
/*
 * Paths changed from the first commit to the second (NULL first: every
 * path of the second), sorted and unique; a rename gives both paths.
 */
int		 git_changed_paths(struct git_cache *, const char *,
		     const char *, struct strv *, char **);
/*
 * Writing. A commit made in the cache: the parent's tree (a full commit
 * id) with these files replaced or added, by the author, signed with
 * `ssh-keygen -Y sign` when a key is given (git verify-commit accepts it
 * with gpg.format=ssh). No ref moves; push it with git_cache_push.
 */
struct git_file_update {
	const char	*path;		/* '/'-separated, in the repository */
	const char	*data;
	size_t		 len;
};
struct git_author {
	const char	*name;
	const char	*email;
	const char	*signing_key;	/* an SSH private key file, or NULL */
};
int		 git_commit_files(struct git_cache *, const char *,
		     const struct git_file_update *, size_t, const char *,
		     const struct git_author *, char **, char **);
/*
 * Push a commit to the branch, compare-and-swap: only if the remote's
 * branch is at expected (the commit's parent, as fetched), never forced.
 * 0 and *result: GIT_PUSHED; GIT_PUSH_STALE when the remote has moved
 * (nothing sent); GIT_PUSH_REJECTED when the remote refused the update
 * (its status and "remote:" messages in *cause, one line), which may be a
 * lost race at the server or a hook or protection. -1 with cause on any
 * other failure, the deadline included; the push may or may not have
 * landed then.
 */
enum git_push_result {
	GIT_PUSHED,
	GIT_PUSH_STALE,
	GIT_PUSH_REJECTED,
};
int		 git_cache_push(struct git_cache *, const char *, const char *,
		     const char *, uint64_t, const struct git_creds *,
		     enum git_push_result *, char **);
/*
 * History along first parents from a revision, newest first, at most max
 * commits. The callback returns 0 to go on, 1 to stop, -1 to fail (with
 * its cause).
 */
struct git_commit_info {
	const char	*id;
	const char	*parent;	/* first parent, NULL for a root */
	const char	*message;
	int64_t		 time;		/* committer's, seconds since epoch */
};
int		 git_log_first_parent(struct git_cache *, const char *, size_t,
		     int (*)(const struct git_commit_info *, void *, char **),
		     void *, char **);
/* *yes set when the first commit is the second or one of its ancestors. */
int		 git_is_ancestor(struct git_cache *, const char *,
		     const char *, int *, char **);
/*
 * A commit's signature (its gpgsig header, armoured text) and the data
 * it signs (the commit without that header, *datalen bytes): *sig NULL
 * when the commit is not signed.
 */
int		 git_commit_signature(struct git_cache *, const char *, char **,
		     char **, size_t *, char **);
/*
 * A source reading the tree of a commit (anything git_resolve takes),
 * labelled "URL@SHORTSHA". Symlinks and submodules in the tree are
 * refused, never followed; materialize writes the tree at a path into a
 * fresh temporary directory the caller removes (*cleanup set).
 */
struct source	*source_git_new(struct git_cache *, const char *, char **);
/*
 * versions.c: the version writer. A bump sets ENVIRONMENT.SERVICE in the
 * versions file and the image tag or digest in the kustomization of the
 * app deploying that service there (the version as tag when neither is
 * given); a rollback sets both back to what they were before a bump and
 * records the bad version as held. One commit each, pushed
 * compare-and-swap with fetch-and-redo retries (see versions.c).
 */
enum versions_kind {
	VERSIONS_BUMP,
	VERSIONS_ROLLBACK,
};
struct versions_request {
	enum versions_kind	 kind;
	const char		*service;
	const char		*environment;
	const char		*version;	/* bump */
	const char		*image;		/* the images entry; NULL: only */
	const char		*tag;		/* bump: tag or digest or neither */
	const char		*digest;
	const char		*commit;	/* rollback: NULL the newest bump */
	int			 force;		/* bump a held version */
	uint64_t		 timeout_ms;	/* 0: versions.timeout */
	/* An app must deploy it and its images entry be found (the CLI). */
	int			 require_image;
};
enum versions_outcome {
	VERSIONS_COMMITTED,	/* pushed: commit */
	VERSIONS_UNCHANGED,	/* the remote already holds it */
	VERSIONS_REFUSED,	/* held, or superseded: summary says */
};
struct versions_result {
	enum versions_outcome	 outcome;
	char			*commit;
	char			*summary;	/* one line for people */
	char			*previous_version;
	char			*version;
	char			*previous_image;
	char			*image;
	int			 attempts;
	int			 batch;		/* requests landed with it */
	uint64_t		 elapsed_ms;
};
/*
 * 0 with the outcome; -1 with cause on an error, a permanent refusal by
 * the remote, or attempts or time used up.
 */
int		 versions_write(const struct config *,
		     const struct versions_request *, struct versions_result *,
		     char **);
void		 versions_result_free(struct versions_result *);
/*
 * The deploys and rollbacks of a service to an environment, newest first,
 * read from the trailers of the commits on the versions repository's
 * branch as its local cache holds it (no fetch here): at most max of
 * them, in a JSON array of {commit, at, kind ("deploy" or "rollback"),
 * version, previousVersion, subject, rollbackOf}.
 */
int		 versions_history(const struct config *, const char *,
		     const char *, size_t, struct json **, char **);
/*
 * What a commit of the versions repository deploys, read from its
 * trailers: a bump (service, environment, versions) or a rollback.
 */
struct versions_commit {
	int	 bump;		/* a deploy the agent can revert */
	int	 rollback;	/* a revert: never reverted in turn */
	char	*service;
	char	*environment;
	char	*version;
	char	*previous_version;
	char	*subject;
};
int		 versions_commit_info(const struct config *, const char *,
		     struct versions_commit *, char **);
void		 versions_commit_free(struct versions_commit *);
/*
 * Which bump of service to environment a failed sync of head is to blame:
 * the newest on the first-parent history from head down to good (the
 * last commit that synced well, excluded), looking at most
 * VERSIONS_BLAME_MAX commits. UNKNOWN when good is NULL, not met within
 * the bound or not an ancestor; REVERTED when a newer commit in the range
 * already reverts that bump. 0 with b filled (b->commit for FOUND and
 * REVERTED, freed by versions_blame_free); -1 with cause.
 */
#define VERSIONS_BLAME_MAX	100
enum versions_blame_kind {
	VERSIONS_BLAME_UNKNOWN,
	VERSIONS_BLAME_NONE,
	VERSIONS_BLAME_FOUND,
	VERSIONS_BLAME_REVERTED
};
struct versions_blame {
	enum versions_blame_kind kind;
	char			*commit;
	size_t			 commits;	/* looked at in the range */
};
int		 versions_blame(const struct config *, const char *,
		     const char *, const char *, const char *,
		     struct versions_blame *, char **);
void		 versions_blame_free(struct versions_blame *);

/* lock.c: exclusive file locks between processes, naming the holder */
struct lock;
/*
 * Lock the file at path (created if missing), trying for up to wait ms
 * (0: once) or until *stop (may be NULL) is set. 0 and *lock when taken
 * (with a records folder, an existing one, a line there says who holds
 * it and since when); 1 and *holder (allocated: "OWNER (pid N) since
 * TIME" from that line, else "COMMAND (pid N)") when another open file
 * holds it; -1 and *cause on error. The kernel drops it when its holder
 * dies. The lock file is never written.
 */
int		 lock_take(const char *, const char *, uint64_t, const int *,
		     struct lock **, char **, char **);
void		 lock_release(struct lock *);
/* What this process calls itself to waiters ("gitops-agent serve"). */
void		 lock_set_owner(const char *);

/* The worker process's main: argv[1] is GIT_WORKER_ARG. */
int		 git_worker_main(int, char **);


/*
 * lease.c: replicas sharing the apps through coordination.k8s.io/v1
 * Leases (coordination: in the configuration). Shard N is held through
 * the Lease gitops-agent-shard-N; each replica announces itself with
 * gitops-agent-member-IDENTITY.
 */
#define LEASE_SHARD_PREFIX	"gitops-agent-shard-"
#define LEASE_MEMBER_PREFIX	"gitops-agent-member-"
/* FNV-1a, 64 bits: the same on every replica and every build. */
uint64_t	 lease_hash(const char *);
/* An app's shard: pinned (>= 0, below shards) or its name's hash. */
int		 lease_shard_of(const char *, int, int);
/* Shards one replica may hold: ceil(shards / replicas). */
int		 lease_quota(int, int);
/*
 * A Lease's record as this process observed it: seen_ms (monotonic) is
 * when it was first seen with that content. lease_observe() is 1 when the
 * record changed (seen_ms restarts); lease_obs_expired() is whether it
 * has stayed the same for a lease duration since (never for a record
 * not seen yet).
 */
struct lease_obs {
	char		*record;
	uint64_t	 seen_ms;
};
int		 lease_observe(struct lease_obs *, const char *, uint64_t);
int		 lease_obs_expired(const struct lease_obs *, uint64_t,
		     uint64_t);
void		 lease_obs_clear(struct lease_obs *);
/* HOST-PID, lower case, fit for a Lease name. */
char		*lease_default_identity(void);
struct lease_set;
struct lease_stats {
	int		 held;		/* shards held, fencing margin applied */
	int		 replicas;	/* live ones, this one included */
	uint64_t	 transitions;	/* shards gained or lost */
	uint64_t	 renew_ms;	/* the last round's time on the server */
	uint64_t	 rounds;
};
struct lease_set *lease_set_open(const struct config_coordination *,
		     char **);
void		 lease_set_close(struct lease_set *);
/*
 * One round at monotonic time now: list the Leases, renew our member
 * Lease, count the live replicas, renew the shards we hold up to the
 * quota and release the rest, take free or expired ones up to it. Blocks
 * on the API server (a thread of its own); call it every
 * lease_set_period_ms(). -1 and *cause when the Leases could not be
 * listed (the holds then run out by themselves).
 */
int		 lease_set_round(struct lease_set *, uint64_t, char **);
uint64_t	 lease_set_period_ms(const struct lease_set *);
/* Give every shard up and leave (shutdown): successors take at once. */
void		 lease_set_release(struct lease_set *);
/*
 * Whether we hold shard at monotonic time now, with a margin: a hold
 * counts until a quarter of the Lease duration before another replica
 * could take it, measured from when our last renewal was sent.
 * Thread-safe, never blocks on the network (fencing before an apply or
 * a push).
 */
int		 lease_set_holds(struct lease_set *, int, uint64_t);
/*
 * A push to repository arrived here: at the next round, annotate the
 * shard Leases other live replicas hold (gitops-agent.io/push-REPO) so
 * they fetch it too. lease_set_nudged() hands over (and clears) the
 * repositories whose nudges appeared on the shards we hold. Both are
 * thread-safe and never block on the network.
 */
void		 lease_set_nudge(struct lease_set *, const char *);
void		 lease_set_nudged(struct lease_set *, struct strv *);
/*
 * handoff.c: deploy requests accepted and not finished, kept on the API
 * server (a ConfigMap each in the Leases' namespace) so the next holder
 * of their shard carries them out. Blocking (the lease thread).
 * handoff_put keeps request (text) under digest for shard; handoff_done
 * forgets it; handoff_adopt calls fn(arg, digest, request) for each one
 * kept for a shard held at now.
 */
int		 handoff_put(struct lease_set *, const char *, int,
		     const char *, char **);
int		 handoff_done(struct lease_set *, const char *, char **);
int		 handoff_adopt(struct lease_set *, uint64_t,
		     void (*)(void *, const char *, const char *), void *,
		     char **);
/* Who holds shard as last seen (allocated), NULL when nobody. */
char		*lease_set_holder(struct lease_set *, int);
void		 lease_set_stats(struct lease_set *, uint64_t,
		     struct lease_stats *);
const char	*lease_set_identity(const struct lease_set *);
const char	*lease_set_namespace(const struct lease_set *);
int		 lease_set_shards(const struct lease_set *);

#endif /* GITOPS_H */
