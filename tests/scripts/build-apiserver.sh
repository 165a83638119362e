#!/usr/bin/env bash
# Builds the test kube-apiserver (tests/apiserver: kube-apiserver and etcd from the published Go
# modules) once per machine and prints the binary's path; see build-go-program.sh for the cache.
exec bash "$(dirname "$0")/build-go-program.sh" apiserver testapiserver
