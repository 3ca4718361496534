// ustack_go: a Go program (Debian's golang-go; Go keeps frame pointers on
// amd64 but has no .eh_frame for Go code) with the runtime's own threads
// and a goroutine blocked in a read syscall on a pipe nobody writes:
//
//	go_read goroutine: main.goReadL1 -> main.goReadL2 -> main.goReadL3 -> syscall.Read
//
// It is pinned to its thread (LockOSThread) so its tid is known. Once the
// thread is in read(2) it sets main.ustackReady = 1 and prints "ready";
// the scenario watches that symbol with vmon-capture and kills the process.
// The main goroutine is locked to the main thread (init), so the reader runs
// on another thread and the main thread is parked in the scheduler.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

var ustackReady int32

// The main goroutine stays on the main thread (M0), so that thread is in a
// known state too: parked by the scheduler while main sleeps
// (mcall -> park_m -> schedule -> stoplockedm -> ... futex).
func init() { runtime.LockOSThread() }

var pipeR int

//go:noinline
func goReadL3(d int) int {
	buf := make([]byte, 1)
	n, _ := syscall.Read(pipeR, buf)
	return n + d
}

//go:noinline
func goReadL2(d int) int { return goReadL3(d+1) + 1 }

//go:noinline
func goReadL1(d int) int { return goReadL2(d+1) + 1 }

func syscallOf(tid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/syscall", tid))
	if err != nil {
		return -2
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -2
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return -2
	}
	return n
}

func main() {
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		panic(err)
	}
	pipeR = p[0]
	tids := make(chan int)
	go func() {
		runtime.LockOSThread()
		tids <- syscall.Gettid()
		goReadL1(0)
	}()
	tid := <-tids
	for i := 0; i < 6000 && syscallOf(tid) != 0; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if syscallOf(tid) != 0 {
		fmt.Fprintln(os.Stderr, "FAIL: the reader did not block in read")
		os.Exit(1)
	}
	atomic.StoreInt32(&ustackReady, 1)
	fmt.Printf("ready pid=%d\nthread go_read %d\n", os.Getpid(), tid)
	for {
		time.Sleep(time.Hour)
	}
}
