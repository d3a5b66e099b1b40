// Package itest holds nothing itself: its module, apart from the library's,
// is the one for tests that need what a user of the library should never
// download, an in-process NATS server (github.com/nats-io/nats-server) and a
// Chromium driver (chromedp). The tests are external test packages named for
// the package they test (natsbroker, natsjs, metrics, client), using that
// package's exported API only; tests of the same packages that need neither
// stay beside the package, in the library's module. The module's packages
// natstest (a NATS server in the test's process) and browser (headless
// Chromium) serve these tests and the example apps' (the examples module
// requires this one).
//
// The go.work at the repository's root puts this module in the workspace, so
// `go test -race work` runs these tests with all the others.
package itest
