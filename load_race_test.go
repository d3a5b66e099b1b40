//go:build race

package sockets

import "testing"

// Under -race the detector's goroutine limit (8128) caps the connection
// count; .ci/run also runs TestLoad5000Connections without -race.
func TestLoad1000ConnectionsRace(t *testing.T) { runLoad(t, 1000) }
