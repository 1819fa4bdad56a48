#!/usr/bin/env python3
# kustomize-diff.py: the objects of a render as sorted canonical JSON, one
# object a line, so that two renders compare with diff (t0065).
#   kustomize-diff.py FILE   a YAML stream (kubectl kustomize, gitops-agent
#                            render)
#   kustomize-diff.py DIR    a directory target's files (one object each;
#                            the agent's own state under .gitops-agent
#                            left out)
# Mappings' key order and the order of objects are not compared; list order
# and every scalar's type are (YAML 1.1 reading, as Kubernetes clients do).
import json
import os
import sys

import yaml


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def objects(path):
    if not os.path.isdir(path):
        return load(path)
    out = []
    for top, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.endswith(".yaml") and not name.startswith("."):
                out.extend(load(os.path.join(top, name)))
    return out


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: kustomize-diff.py FILE|DIR\n")
        return 2
    lines = sorted(json.dumps(o, sort_keys=True, ensure_ascii=False,
                              default=str) for o in objects(sys.argv[1]))
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
