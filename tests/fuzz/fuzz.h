/*
 * fuzz.h: what the harnesses in tests/fuzz share: libFuzzer's entry
 * point (replay.c calls it outside libFuzzer) and an in-memory source.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

struct source;

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * A source of files cut from the input: each line "=== PATH" starts the
 * file PATH, and text before the first such line is the file named by
 * the first argument. *firstp (allocated) is the first file's path.
 */
struct source	*fuzz_source_new(const char *, const uint8_t *, size_t,
		    char **);

#endif
