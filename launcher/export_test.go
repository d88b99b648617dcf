//go:build unix

package launcher

// LookPath is lookPath, for the tests of the lookup itself.
var LookPath = lookPath

// OnSendRetry makes f the function a Send calls when it first finds no
// reader, until restore is called.
func OnSendRetry(f func()) (restore func()) {
	old := sendRetried
	sendRetried = f
	return func() { sendRetried = old }
}
