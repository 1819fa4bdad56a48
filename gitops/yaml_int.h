/*
 * yaml_int.h: what yaml.c, yaml_emit.c and yaml_edit.c share, and nobody
 * else uses: how a plain scalar resolves, and the emitter's quoting that
 * the editor reuses. Not for other modules (they use gitops.h).
 */
#ifndef YAML_INT_H
#define YAML_INT_H

struct buf;

enum yaml_kind {
	YAML_KIND_NULL,
	YAML_KIND_TRUE,
	YAML_KIND_FALSE,
	YAML_KIND_INT,
	YAML_KIND_FLOAT,
	YAML_KIND_STRING,
	/*
	 * A number a double cannot hold exactly: an integer past 2^53, or
	 * anything past a double's range. Refused rather than silently
	 * changed (quoted, it is a string like any other).
	 */
	YAML_KIND_INEXACT,
};

/* yaml.c */
enum yaml_kind	 yaml_resolve(const char *, double *);
/* Plain words kubectl's YAML 1.1 reads as booleans and YAML 1.2 as text. */
int		 yaml_is_bool11(const char *);

/* yaml_emit.c */
int		 yaml_all_printable(const char *, int);
int		 yaml_plain_ok(const char *);
void		 yaml_emit_quoted(struct buf *, const char *);

#endif /* YAML_INT_H */
