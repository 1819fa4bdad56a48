#!/bin/sh
# deps.sh: install everything gitops-agent needs to build and test from
# Debian's packages (12: clang 14 and its libFuzzer runtime for
# tests/fuzz/run.sh). Run as root (or with sudo available).
# `deps.sh build` installs only what building and installing it needs
# (contrib/Containerfile's build stage, the README's install steps).
set -eu
build="build-essential autoconf automake libtool pkg-config
	libgit2-dev libevent-dev libssl-dev libcjson-dev libyaml-dev
	libcmocka-dev libcurl4-openssl-dev"
packages="$build git curl python3 valgrind
	python3-yaml
	openssh-client openssh-server openssl gnupg gpgv
	wrk webhook prometheus
	clang libclang-rt-14-dev
	mandoc
	golang-go golang-k8s-sigs-structured-merge-diff-dev
	golang-k8s-kube-openapi-dev golang-k8s-sigs-yaml-dev"
case "${1:-}" in
build) packages=$build ;;
"") ;;
*) echo "usage: deps.sh [build]" >&2; exit 2 ;;
esac
as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
export DEBIAN_FRONTEND=noninteractive
as_root apt-get update -qq
# shellcheck disable=SC2086
as_root apt-get install -y -qq --no-install-recommends $packages >/dev/null
