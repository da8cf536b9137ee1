package netns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// txn is an explicit undo stack. Each step registers its own inverse the
// moment it has succeeded, so a failure anywhere later can put everything
// back; scattering the inverses over defers is how upstream plugins end up
// leaking half-moved links.
type txn struct {
	ctx   context.Context
	log   *slog.Logger
	undos []undoStep
}

type undoStep struct {
	name string
	fn   func() error
}

func newTxn(ctx context.Context, log *slog.Logger) *txn {
	return &txn{ctx: ctx, log: log}
}

// step runs do unless the context is already done, and remembers undo
// (which may be nil) once do succeeded. Netlink calls cannot be
// interrupted, so cancellation is honoured between steps.
func (t *txn) step(name string, do, undo func() error) error {
	if err := t.ctx.Err(); err != nil {
		return fmt.Errorf("before %s: %w", name, err)
	}
	start := time.Now()
	if err := do(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	t.log.Debug("netns step done", "step", name, "took", time.Since(start))
	if undo != nil {
		t.undos = append(t.undos, undoStep{name: name, fn: undo})
	}
	return nil
}

// rollback reverts the completed steps newest first and returns cause,
// extended with every inverse that failed. It does not stop at a failed
// inverse: the older ones (ultimately "move back home") matter most.
// It ignores the context, which is typically what got cancelled.
func (t *txn) rollback(cause error) error {
	if len(t.undos) == 0 {
		return cause
	}
	t.log.Warn("netns: rolling back", "steps", len(t.undos), "cause", cause)
	var failed []error
	for i := len(t.undos) - 1; i >= 0; i-- {
		u := t.undos[i]
		if err := u.fn(); err != nil {
			t.log.Error("netns: undo failed", "step", u.name, "err", err)
			failed = append(failed, fmt.Errorf("undo %s: %w", u.name, err))
		}
	}
	t.undos = nil
	if len(failed) == 0 {
		return cause
	}
	return fmt.Errorf("%w (rollback incomplete: %w)", cause, errors.Join(failed...))
}
