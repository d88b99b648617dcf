package main

// undoOnError runs undo if the function that deferred it fails: *errp is set
// on return, or it panics. Deferred as
//
//	defer undoOnError(&err, st.Close)
//
// it binds st when the defer runs, unlike a closure over a named result,
// which `return nil, err` has already set to nil by the time it runs.
func undoOnError(errp *error, undo func()) {
	if r := recover(); r != nil {
		undo()
		panic(r)
	}
	if *errp != nil {
		undo()
	}
}

// ignoreError adapts a Close that returns an error, which an undo has no one
// to give to, to undoOnError.
func ignoreError(f func() error) func() { return func() { _ = f() } }
