package main

// Commands that hooks run in the consistency tests:
//
//	testapp say WORDS...       print WORDS on stdout and "stderr: WORDS" on stderr
//	testapp note FILE WORDS... append "<unix nanoseconds> WORDS" to FILE
//	testapp fail CODE [WORDS]  print WORDS on stderr and exit with CODE
//	testapp hang [child]       ignore SIGTERM and SIGINT and never end (with
//	                           "child": start a second hang first, a process tree)

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// exitError ends the test app with its own status.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

var hookModes = map[string]func(ctx context.Context, args []string) error{
	"say":  say,
	"note": note,
	"fail": failWith,
	"hang": hang,
}

func say(_ context.Context, args []string) error {
	w := strings.Join(args, " ")
	fmt.Fprintln(os.Stdout, w)
	fmt.Fprintln(os.Stderr, "stderr: "+w)
	return nil
}

func note(_ context.Context, args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: testapp note FILE WORD [WORD]")
	}
	f, err := os.OpenFile(args[0], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%d %s\n", time.Now().UnixNano(), strings.Join(args[1:], " "))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func failWith(_ context.Context, args []string) error {
	if len(args) < 1 {
		return fmt.Errorf("usage: testapp fail CODE [WORDS]")
	}
	code, err := strconv.Atoi(args[0])
	if err != nil || code < 1 || code > 255 {
		return fmt.Errorf("fail: CODE must be 1..255")
	}
	return &exitError{code: code, msg: strings.Join(args[1:], " ")}
}

func hang(_ context.Context, args []string) error {
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if len(args) == 1 && args[0] == "child" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		if err := exec.Command(self, "hang").Start(); err != nil {
			return err
		}
	}
	fmt.Println("hanging")
	select {}
}

// otherMode runs the subcommands of db.go and hooks.go.
func otherMode(ctx context.Context, mode string, args []string) error {
	if fn, ok := dbModes[mode]; ok {
		return fn(ctx, args)
	}
	if fn, ok := hookModes[mode]; ok {
		return fn(ctx, args)
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// exitCode is the status the test app exits with for err (1, or fail's CODE).
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}
