package main

import "slices"

// ring keeps the last limit values pushed, oldest first. Its storage grows
// with what it holds and never beyond limit values, so a value pushed out
// is no longer referenced: a room's memory is bounded by its limits, not
// by twice them. A ring whose limit is 0 or less keeps nothing.
type ring[T any] struct {
	limit int
	buf   []T // cap(buf) <= limit
	head  int // index of the oldest value; 0 until buf is full
}

func newRing[T any](limit int) ring[T] { return ring[T]{limit: limit} }

// push adds v, dropping the oldest value when the ring is full.
func (r *ring[T]) push(v T) {
	switch {
	case r.limit <= 0:
	case len(r.buf) < r.limit:
		r.buf = growBounded(r.buf, r.limit)
		r.buf = append(r.buf, v)
	default:
		r.buf[r.head] = v
		r.head = (r.head + 1) % len(r.buf)
	}
}

// len returns the number of values kept.
func (r *ring[T]) len() int { return len(r.buf) }

// at returns the i-th oldest value kept, i < r.len().
func (r *ring[T]) at(i int) T { return r.buf[(r.head+i)%len(r.buf)] }

// appendTo appends the values kept to dst, oldest first.
func (r *ring[T]) appendTo(dst []T) []T {
	dst = append(dst, r.buf[r.head:]...)
	return append(dst, r.buf[:r.head]...)
}

// reset forgets every value and releases the storage.
func (r *ring[T]) reset() { r.buf, r.head = nil, 0 }

// growBounded returns s with room for one more element, its capacity
// doubled when full but never beyond limit. len(s) < limit.
func growBounded[T any](s []T, limit int) []T {
	if len(s) < cap(s) {
		return s
	}
	grown := make([]T, len(s), min(max(2*cap(s), 8), limit))
	copy(grown, s)
	return grown
}

// insertBounded inserts v at index i of s, a slice of at most limit
// elements ordered oldest first: when s is full, its oldest element is
// dropped (v itself when i is 0). The capacity of s never exceeds limit.
func insertBounded[T any](s []T, i int, v T, limit int) []T {
	switch {
	case limit <= 0:
		return nil
	case len(s) < limit:
		return slices.Insert(growBounded(s, limit), i, v)
	case i == 0:
		return s
	}
	copy(s[:i-1], s[1:i])
	s[i-1] = v
	return s
}
