package textout

import (
	"fmt"
	"time"
)

// Rate measures how fast a job of a known size goes, from the units done
// so far in this process, and says how long the rest will take. The first
// observe sets the origin (a resumed job has units done before it).
type Rate struct {
	Now     func() time.Time // time.Now; tests set a clock
	t0      time.Time
	n0      int
	started bool
}

// NewRate is a Rate on the wall clock.
func NewRate() *Rate { return &Rate{Now: time.Now} }

// Observe notes that done units are finished; the first call is the
// origin.
func (r *Rate) Observe(done int) {
	if !r.started {
		r.t0, r.n0, r.started = r.Now(), done, true
	}
}

// StartAt sets the origin: done units were finished at t (the first unit
// of a job reports how long it took, so the rate shows from it on).
func (r *Rate) StartAt(done int, t time.Time) {
	if !r.started {
		r.t0, r.n0, r.started = t, done, true
	}
}

// Reset starts measuring again (a new phase of the job).
func (r *Rate) Reset() { r.started = false }

// Line is "2.1 steps/s, 1m20s left" for done of total units named unit,
// or "" until there is a measure (the first unit after the origin).
func (r *Rate) Line(done, total int, unit string) string {
	r.Observe(done)
	el := r.Now().Sub(r.t0)
	n := done - r.n0
	if n <= 0 || el <= 0 {
		return ""
	}
	perSec := float64(n) / el.Seconds()
	speed := fmt.Sprintf("%.2g %s/s", perSec, unit)
	if perSec < 0.5 {
		speed = fmt.Sprintf("%.2g %s/min", perSec*60, unit)
	}
	if done >= total {
		return speed
	}
	left := time.Duration(float64(total-done) / perSec * float64(time.Second))
	return speed + ", " + RoughDuration(left) + " left"
}

// RoughDuration is a duration to the second below an hour, to the minute
// above: "45s", "12m05s", "3h20m".
func RoughDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return "<1s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// Paren is " (s)", or "" for an empty s.
func Paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}
