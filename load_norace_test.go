//go:build !race

package sockets

import "testing"

func TestLoad5000Connections(t *testing.T) { runLoad(t, 5000) }
