// Argo CD's Lua health-check runtime for tests: gopher-lua, as Argo CD embeds it.
module github.com/webstack-operator/luahealth

go 1.25.0

require github.com/yuin/gopher-lua v1.1.1
