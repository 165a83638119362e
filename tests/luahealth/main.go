// Command luahealth runs an Argo CD resource health check the way Argo CD runs one: in gopher-lua
// (the Lua 5.1 VM Argo CD embeds), with only the base, table, string and math libraries open (Argo
// CD's default for health scripts), the object as the global `obj` (JSON objects and arrays as
// tables, numbers as Lua numbers), and the table the script returns read as {status, message}.
//
//	luahealth SCRIPT < object.json   # prints {"status": "...", "message": "..."}
//
// tests/integration/argocd_health.rs runs deploy/argocd/health.lua through it; tests/scripts/
// build-luahealth.sh builds it once per machine.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	lua "github.com/yuin/gopher-lua"
)

func main() {
	if len(os.Args) != 2 {
		fail("usage: luahealth SCRIPT < object.json")
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("read script: %v", err)
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("read object: %v", err)
	}
	var obj interface{}
	if err := json.Unmarshal(input, &obj); err != nil {
		fail("object is not JSON: %v", err)
	}

	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		l.Push(l.NewFunction(lib.open))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(string(script)); err != nil {
		fail("script: %v", err)
	}
	table, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		fail("the script returned %s, not a table", l.Get(-1).Type())
	}
	out, _ := json.Marshal(map[string]string{
		"status":  lua.LVAsString(table.RawGetString("status")),
		"message": lua.LVAsString(table.RawGetString("message")),
	})
	fmt.Println(string(out))
}

// toLua converts decoded JSON as Argo CD does: objects and arrays become tables (arrays from index 1).
func toLua(l *lua.LState, v interface{}) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []interface{}:
		t := l.NewTable()
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]interface{}:
		t := l.NewTable()
		for k, item := range v {
			t.RawSetString(k, toLua(l, item))
		}
		return t
	default:
		fail("unexpected JSON value %T", v)
		return lua.LNil
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "luahealth: "+format+"\n", args...)
	os.Exit(1)
}
