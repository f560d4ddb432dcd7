//go:build faultinject

// Test-only: built with -tags faultinject, never into the keyrite that
// goes into the room. The crash tests build keyrite with it to kill the
// process with SIGKILL at a chosen PKCS#11 call.

package pkcs11

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
)

// KEYRITE_FAULTINJECT_AFTER=k kills the process (SIGKILL, so no deferred
// function, rollback or signal handler runs) after k PKCS#11 calls, just
// before the next one; 0 or unset: never. KEYRITE_FAULTINJECT_LOG=FILE
// appends "N CALLER" for every call (the counting run) and "killed N
// CALLER" before the kill.
var (
	faultCalls atomic.Int64
	faultAfter = envInt("KEYRITE_FAULTINJECT_AFTER")
	faultLog   = os.Getenv("KEYRITE_FAULTINJECT_LOG")
)

func envInt(name string) int64 {
	n, _ := strconv.ParseInt(os.Getenv(name), 10, 64)
	return n
}

func faultPoint() {
	n := faultCalls.Add(1)
	kill := faultAfter > 0 && n == faultAfter+1
	if faultLog == "" && !kill {
		return
	}
	caller := "?"
	// Skip faultPoint and ctx(): the function making the call.
	for skip := 1; skip < 4; skip++ {
		pc, file, line, ok := runtime.Caller(skip)
		if !ok {
			break
		}
		name := runtime.FuncForPC(pc).Name()
		if name != "github.com/keyrite/keyrite/hsm/pkcs11.(*Backend).ctx" {
			caller = fmt.Sprintf("%s (%s:%d)", name, baseName(file), line)
			break
		}
	}
	if faultLog != "" {
		prefix := ""
		if kill {
			prefix = "killed "
		}
		if f, err := os.OpenFile(faultLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			fmt.Fprintf(f, "%s%d %s\n", prefix, n, caller)
			f.Sync()
			f.Close()
		}
	}
	if kill {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
