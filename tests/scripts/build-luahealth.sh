#!/usr/bin/env bash
# Builds tests/luahealth (Argo CD's Lua health-check runtime: gopher-lua) once per machine and
# prints the binary's path; see build-go-program.sh for the cache.
exec bash "$(dirname "$0")/build-go-program.sh" luahealth luahealth
