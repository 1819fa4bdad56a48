/* manifest.c: placeholder until written */
#include "config.h"
#include "gitops.h"
