#!/bin/sh
# deps.sh: install everything gitops-agent needs to build and test from
# Debian's packages (12: clang 14 and its libFuzzer runtime for
# tests/fuzz/run.sh). Run as root (or with sudo available).
set -eu
packages="build-essential autoconf automake libtool pkg-config
	libgit2-dev libevent-dev libssl-dev libcjson-dev libyaml-dev
	libcmocka-dev git curl python3 valgrind
	libcurl4-openssl-dev
	python3-yaml
	openssh-client openssh-server openssl gnupg gpgv
	wrk webhook prometheus
	clang libclang-rt-14-dev
	mandoc
	golang-go golang-k8s-sigs-structured-merge-diff-dev
	golang-k8s-kube-openapi-dev golang-k8s-sigs-yaml-dev"
as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
export DEBIAN_FRONTEND=noninteractive
as_root apt-get update -qq
# shellcheck disable=SC2086
as_root apt-get install -y -qq --no-install-recommends $packages >/dev/null
