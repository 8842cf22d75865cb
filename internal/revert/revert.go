// Package revert undoes the steps of a multi-step host change when a later
// step fails: register an undo right after each step, call Success at the
// end, and defer Fail.
package revert

// Reverter runs its undo functions in reverse order unless Success was called.
type Reverter struct {
	undo []func()
}

// New returns an empty Reverter.
func New() *Reverter { return &Reverter{} }

// Add registers f to run on failure.
func (r *Reverter) Add(f func()) { r.undo = append(r.undo, f) }

// Fail runs every registered undo, newest first. After Success it does nothing.
func (r *Reverter) Fail() {
	for i := len(r.undo) - 1; i >= 0; i-- {
		r.undo[i]()
	}
	r.undo = nil
}

// Success keeps the changes: a later Fail does nothing.
func (r *Reverter) Success() { r.undo = nil }
