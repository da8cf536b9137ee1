package dpuagent

import "time"

// retryState schedules the next reconcile pass that no event will trigger:
// a retried OVS transaction (exponential backoff) or the end of a
// representor's grace period.
type retryState struct {
	wakeAt  time.Time
	backoff time.Duration
}

// at asks for a pass no later than t.
func (r *retryState) at(t time.Time) {
	if r.wakeAt.IsZero() || t.Before(r.wakeAt) {
		r.wakeAt = t
	}
}

// failed schedules a retry after the next backoff step and returns it.
func (r *retryState) failed(now time.Time, minWait, maxWait time.Duration) time.Duration {
	r.backoff = min(max(2*r.backoff, minWait), maxWait)
	r.at(now.Add(r.backoff))
	return r.backoff
}

func (r *retryState) succeeded() { r.backoff = 0 }

// timer returns a channel that fires at the scheduled time, or nil (never
// fires) when nothing is scheduled. Each pass reschedules what it still
// needs, so firing clears the schedule.
func (r *retryState) timer() <-chan time.Time {
	if r.wakeAt.IsZero() {
		return nil
	}
	d := time.Until(r.wakeAt)
	r.wakeAt = time.Time{}
	return time.After(max(d, 0))
}
