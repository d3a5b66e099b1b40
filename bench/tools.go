//go:build tools

// Package bench is the benchmark suite's module root. This file only keeps
// the dependency on our library (replaced by ../) in go.mod under
// `go mod tidy`, so that the module can build the library's benchmark
// server; it is never compiled.
package bench

import _ "github.com/macaron-contrib/sockets"
