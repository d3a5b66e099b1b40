package main

import (
	"reflect"
	"slices"
	"testing"
)

// TestRing pushes more than a ring keeps: it must list the last values,
// oldest first, and its storage must never outgrow its limit.
func TestRing(t *testing.T) {
	for _, limit := range []int{0, 1, 3, 8, 50} {
		r := newRing[int](limit)
		var all []int
		for i := range 3*limit + 2 {
			r.push(i)
			all = append(all, i)
			want := all[max(0, len(all)-limit):]
			if got := r.appendTo(nil); !slices.Equal(got, want) {
				t.Fatalf("limit %d, after %d: got %v, want %v", limit, i, got, want)
			}
			if r.len() != len(want) || (len(want) > 0 && (r.at(0) != want[0] || r.at(len(want)-1) != i)) {
				t.Fatalf("limit %d, after %d: len %d, want %d", limit, i, r.len(), len(want))
			}
			if c := cap(r.buf); c > limit {
				t.Fatalf("limit %d, after %d: cap %d", limit, i, c)
			}
		}
		r.reset()
		if r.len() != 0 || r.buf != nil {
			t.Errorf("limit %d: after reset, len %d, buf %v", limit, r.len(), r.buf)
		}
	}
}

func TestInsertBounded(t *testing.T) {
	for _, tc := range []struct {
		s     []int
		i, v  int
		limit int
		want  []int
	}{
		{nil, 0, 5, 3, []int{5}},
		{[]int{1, 3}, 1, 2, 3, []int{1, 2, 3}},
		{[]int{1, 2, 4}, 2, 3, 3, []int{2, 3, 4}}, // full: the oldest goes
		{[]int{1, 2, 3}, 3, 4, 3, []int{2, 3, 4}}, // appended
		{[]int{2, 3, 4}, 0, 1, 3, []int{2, 3, 4}}, // older than all: dropped
		{[]int{1}, 0, 0, 0, nil},
	} {
		got := insertBounded(append([]int(nil), tc.s...), tc.i, tc.v, tc.limit)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("insertBounded(%v, %d, %d, %d) = %v, want %v", tc.s, tc.i, tc.v, tc.limit, got, tc.want)
		}
	}
	var s []int
	for i := range 1000 {
		s = insertBounded(s, len(s), i, 50)
		if c := cap(s); c > 50 {
			t.Fatalf("after %d: cap %d, want at most 50", i, c)
		}
	}
	if s[0] != 950 || s[49] != 999 {
		t.Errorf("kept %d..%d, want 950..999", s[0], s[len(s)-1])
	}
}
