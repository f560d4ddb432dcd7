package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/keyrite/keyrite/bundle"
	"github.com/keyrite/keyrite/ceremony/session"
	"github.com/keyrite/keyrite/internal/fsutil"
	"github.com/keyrite/keyrite/internal/journal"
)

// Crash safety on the command line: the journal's directory, the answer to
// the leftovers question given in advance, and signals.

// interruptContext is cancelled by the first SIGINT or SIGTERM, with the
// signal as its cause. Later signals are swallowed while the command rolls
// back (the journal covers a kill -9 at any point).
func interruptContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		for sig := range ch {
			cancel(&interruptedError{sig})
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
}

// interruptedError is the cause of an interrupted command's context.
type interruptedError struct{ sig os.Signal }

func (e *interruptedError) Error() string {
	if e.sig == syscall.SIGTERM {
		return "interrupted (SIGTERM)"
	}
	return "interrupted (SIGINT)"
}

// addLeftoverFlags adds --clean-leftovers and --resume to a command that
// creates keys on devices.
func (a *App) addLeftoverFlags(c *cobra.Command) {
	c.Flags().BoolVar(&a.cleanLeftovers, "clean-leftovers", false,
		"destroy the keys an interrupted keyrite run left on the devices (its journal names them) without asking")
	c.Flags().BoolVar(&a.resume, "resume", false,
		"reuse the keys an interrupted run of this command left that this run can use, and destroy the others, without asking")
}

// leftoverAction is the answer the flags give in advance.
func (a *App) leftoverAction() session.LeftoverAction {
	switch {
	case a.cleanLeftovers:
		return session.LeftoversRemove
	case a.resume:
		return session.LeftoversResume
	}
	return session.LeftoversAsk
}

// journalDir is where the journals live: --state-dir/journal, or the
// user's state directory. Without one, keys are not journalled, and the
// operator is told once.
func (a *App) journalDir() string {
	if a.StateDir != "" {
		abs, err := filepath.Abs(a.StateDir)
		if err != nil {
			abs = a.StateDir
		}
		return filepath.Join(abs, "journal")
	}
	dir, err := journal.DefaultDir()
	if err != nil && !a.warnedState {
		a.warnedState = true
		fmt.Fprintf(a.Stderr, "keyrite: warning: %v: the keys a command creates are not journalled, so a crash cannot be cleaned up after; pass --state-dir DIR\n", err)
	}
	return dir
}

// beforeCommand runs before every command: it refuses contradictory
// answers to the leftovers question, and removes the partial outputs an
// interrupted keyrite left where this command writes (-o).
func (a *App) beforeCommand(c *cobra.Command) error {
	if a.cleanLeftovers && a.resume {
		return usagef(c, "--clean-leftovers and --resume exclude each other")
	}
	f := c.Flags().Lookup("out")
	if f == nil || f.Value.String() == "" {
		return nil
	}
	out := f.Value.String()
	targets := []string{out}
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		// A backup directory being finished: its transcript is rewritten.
		targets = append(targets, filepath.Join(out, bundle.TranscriptName))
	}
	for _, t := range targets {
		removed, err := fsutil.RemoveStalePartials(t)
		for _, p := range removed {
			fmt.Fprintf(a.Stderr, "keyrite: removed %s, a partial output an interrupted keyrite left\n", p)
		}
		if err != nil {
			fmt.Fprintf(a.Stderr, "keyrite: warning: looking for partial outputs an interrupted keyrite left: %v\n", err)
		}
	}
	return nil
}
